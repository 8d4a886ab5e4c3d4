// earmark's page: recordings, a zoomable timeline (spectrogram, frame scores, events, labels),
// a threshold slider, the train dialog, scans and labelling. Plain JavaScript, no build step; it
// talks only to the JSON API of docs/api.md on the same origin.
//
// Element ids (stable: the browser tests and scripts rely on them):
//   #message, #message-text, #message-close   the message area; errors carry class "error"
//   #project-root                              the project folder
//   #scan-detector, #scan-start                detector dropdown (drives the whole page) and Scan
//   #scan-progress, #scan-status               scan job: <progress data-state=running|done|failed>
//   #train-open, #train-dialog, #train-form    the train dialog and its form
//   #train-name, #train-encoder, #train-layers, #train-head, #train-pooling, #train-calibration,
//   #train-labels, #train-window, #train-hop, #train-max-iter, #train-epochs, #head-note
//   #train-submit, #train-close, #train-progress (data-state), #train-status, #train-metrics
//   #recordings (table; each row tr[data-path] has a button.rec-open), #recording-total
//   #threshold-class, #threshold (range 0–1), #threshold-value, #threshold-reset, #threshold-save
//   #detection-count (events of the open recording; data-threshold = the threshold it reflects,
//     "default" for the detector's own), #metrics (P/R/F1), #summary (project-wide)
//   #rec-title, #player (<audio>), #zoom-in, #zoom-out, #zoom-fit, #label-mode, #view-range,
//   #timeline-note, #timeline, #timeline-canvas, #event-lane (button.event-box), #label-lane
//   (button.label-box), #timeline-scroll, #legend
//   #label-form, #label-onset, #label-offset, #label-class, #label-add, #label-cancel, #class-list
//   #label-list, #label-delete, #weak-editor, #weak-classes, #weak-new, #weak-save, #weak-status
'use strict';

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- state
const S = {
  classes: [],        // every class known to the project (labels and detectors)
  detectors: [],      // GET /api/detectors
  detector: '',       // the selected detector's name ('' = none)
  recordings: [],     // GET /api/recordings
  rec: null,          // the open recording (a row of recordings)
  view: { start: 0, end: 1 },
  spec: null,         // last spectrogram: { start, end, img (canvas) }
  scores: null,       // GET /api/scores of the open recording, or null
  events: [],
  labels: { strong: [], weak: null },
  threshold: null,    // null: the detector's per-class thresholds; else the slider's value
  selection: null,    // { onset, offset } being labelled
  selected: -1,       // index into labels.strong of the selected label
  playhead: null,     // seconds, while the player plays a stretch
  play: null,         // { start, end } of the stretch in the player
};

// ---------------------------------------------------------------- API and messages
class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// Every request goes through here so that an API error ({"error": ...}) is always turned into
// an exception carrying the server's own words.
async function api(method, url, body, signal) {
  const opts = { method, signal, headers: {} };
  if (body !== undefined) {
    opts.body = JSON.stringify(body);
    opts.headers['Content-Type'] = 'application/json';
  }
  let res;
  try {
    res = await fetch(url, opts);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `${method} ${url}: the server did not answer (${e.message}); is earmark serve still running?`);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* a non-JSON body: reported below */ }
  if (!res.ok) {
    const why = data && data.error ? data.error : `HTTP ${res.status} ${text.slice(0, 200)}`;
    throw new ApiError(res.status, why);
  }
  if (text && data === null) throw new ApiError(res.status, `${method} ${url}: the answer is not JSON`);
  return data;
}

const q = (params) => new URLSearchParams(Object.entries(params)
  .filter(([, v]) => v !== null && v !== undefined && v !== '')).toString();

// Errors stay until dismissed; confirmations fade after a few seconds.
let messageTimer = 0;
function showMessage(text, isError) {
  $('message-text').textContent = text;
  $('message').classList.toggle('error', !!isError);
  $('message').hidden = false;
  clearTimeout(messageTimer);
  if (!isError) messageTimer = setTimeout(() => { $('message').hidden = true; }, 6000);
}
// The one place errors are reported: aborted (superseded) requests are expected, all else is shown.
function report(err, context) {
  if (err && err.name === 'AbortError') return;
  console.error(context, err);
  showMessage(`${context ? context + ': ' : ''}${err && err.message ? err.message : err}`, true);
}

// Only the latest request of a kind counts: starting one aborts the previous (stale) one.
const inflight = {};
function fresh(kind) {
  if (inflight[kind]) inflight[kind].abort();
  inflight[kind] = new AbortController();
  return inflight[kind].signal;
}
// Coalesces calls into one per animation frame (slider input fires far more often than frames).
function perFrame(fn) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; fn(); });
  };
}
// Trailing debounce for the spectrogram, which costs the server a decode per request.
function debounce(fn, ms) {
  let t = 0;
  return () => { clearTimeout(t); t = setTimeout(fn, ms); };
}

const fmt = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? '–' : Number(x).toFixed(d));
const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const c of children) e.append(c);
  return e;
};

// Class colours are stable per class name across views (by position in the known class list).
const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#9a6324', '#808000', '#000075'];
function colour(cls) {
  let i = S.classes.indexOf(cls);
  if (i < 0) { S.classes.push(cls); i = S.classes.length - 1; }
  return PALETTE[i % PALETTE.length];
}
function addClasses(list) {
  let changed = false;
  for (const c of list || []) if (c && !S.classes.includes(c)) { S.classes.push(c); changed = true; }
  if (changed) fillClassLists();
}
function fillClassLists() {
  $('class-list').replaceChildren(...S.classes.map((c) => el('option', { value: c })));
  renderWeak();
}

// ---------------------------------------------------------------- project, detectors, recordings
async function loadProject() {
  const p = await api('GET', '/api/project');
  $('project-root').textContent = p.root;
  $('project-root').title = `Project folder: ${p.root}`;
  addClasses(p.classes);
}

function currentDetector() { return S.detectors.find((d) => d.name === S.detector) || null; }

async function loadDetectors(prefer) {
  S.detectors = await api('GET', '/api/detectors');
  for (const d of S.detectors) addClasses(d.classes);
  const names = S.detectors.map((d) => d.name);
  let pick = prefer || S.detector || localStorage.getItem('earmark.detector') || '';
  if (!names.includes(pick)) {
    // Default to the newest scanned detector: the one whose results there are to look at.
    const scanned = S.detectors.filter((d) => d.scanned).sort((a, b) => (b.created || 0) - (a.created || 0));
    pick = scanned.length ? scanned[0].name : (names[0] || '');
  }
  const sel = $('scan-detector');
  sel.replaceChildren(...(S.detectors.length ? S.detectors.map((d) => el('option', {
    value: d.name,
    textContent: `${d.name} — ${d.encoder || '?'}/${d.head || '?'}${d.scanned ? '' : ' (not scanned)'}`,
  })) : [el('option', { value: '', textContent: 'no detector yet: train one' })]));
  sel.value = pick;
  $('scan-start').disabled = !pick;
  // A different detector means different scores and counts everywhere; the same one (after a
  // scan or a saved threshold) only needs its thresholds re-read.
  setDetector(pick, pick !== S.detector);
}

// Selecting a detector re-reads everything that depends on it.
function setDetector(name, reload = true) {
  S.detector = name;
  if (name) localStorage.setItem('earmark.detector', name);
  const det = currentDetector();
  const tc = $('threshold-class');
  const keep = tc.value;
  const classes = det ? det.classes || [] : [];
  tc.replaceChildren(el('option', { value: '', textContent: 'all classes' }),
    ...classes.map((c) => el('option', { value: c, textContent: c })));
  tc.value = classes.includes(keep) ? keep : '';
  S.threshold = null;
  syncSlider();
  $('threshold-save').disabled = !det;
  if (reload) {
    loadRecordings().catch((e) => report(e, 'Loading recordings'));
    if (S.rec) openRecording(S.rec.path);
  }
  refreshThreshold();
}

async function loadRecordings() {
  S.recordings = await api('GET', `/api/recordings?${q({ detector: S.detector })}`, undefined, fresh('recordings'));
  $('recording-total').textContent = `(${S.recordings.length})`;
  const body = $('recordings').tBodies[0];
  body.replaceChildren(...S.recordings.map((r) => {
    const tr = el('tr', {},
      el('td', {}, el('button', { type: 'button', className: 'rec-open', textContent: r.path, title: `Open ${r.path}` })),
      el('td', { textContent: fmt(r.duration, 1) }),
      el('td', { textContent: r.labels ?? '–' }),
      el('td', { textContent: r.detections ?? '–', title: r.detections === null ? 'not scanned by this detector' : '' }));
    tr.dataset.path = r.path;
    tr.classList.toggle('open', !!S.rec && S.rec.path === r.path);
    return tr;
  }));
  if (!S.recordings.length) {
    body.append(el('tr', {}, el('td', { colSpan: 4, className: 'muted', textContent: 'No audio files in the project folder.' })));
  }
  if (S.rec) S.rec = S.recordings.find((r) => r.path === S.rec.path) || S.rec;
}

// ---------------------------------------------------------------- the open recording
async function openRecording(path) {
  const rec = S.recordings.find((r) => r.path === path);
  if (!rec) return;
  const same = S.rec && S.rec.path === path;
  S.rec = rec;
  for (const tr of $('recordings').tBodies[0].rows) tr.classList.toggle('open', tr.dataset.path === path);
  $('rec-title').textContent = `${rec.path} — ${fmt(rec.duration, 2)} s, ${rec.sample_rate} Hz`;
  if (!same) {
    S.spec = null; S.selection = null; S.selected = -1; S.scores = null; S.events = [];
    setView(0, rec.duration);
  }
  const sig = fresh('open');
  try {
    const [labels, scores] = await Promise.all([
      api('GET', `/api/labels?${q({ path })}`, undefined, sig),
      S.detector ? api('GET', `/api/scores?${q({ path, detector: S.detector })}`, undefined, sig)
        .catch((e) => { if (e.status === 404) return null; throw e; }) : null,
    ]);
    S.labels = { strong: labels.strong || [], weak: labels.weak ?? null };
    addClasses(S.labels.strong.map((l) => l.label));
    addClasses(S.labels.weak || []);
    S.scores = scores;
    if (scores) addClasses(scores.classes);
    $('timeline-note').textContent = !S.detector ? 'No detector: train one to see scores and events.'
      : scores ? '' : `Not scanned by ${S.detector} yet: press Scan.`;
    renderLabels();
    renderLegend();
    draw();
    await loadEvents();
  } catch (e) { report(e, `Opening ${path}`); }
}

// The view is the visible stretch; every change redraws at once from what is cached and then
// asks the server for a spectrogram at the new resolution.
function setView(start, end) {
  if (!S.rec || !(S.rec.duration > 0)) return;
  const dur = S.rec.duration;
  const span = Math.min(Math.max(end - start, Math.min(0.05, dur)), dur);
  start = Math.min(Math.max(0, start), dur - span);
  S.view = { start, end: start + span };
  $('view-range').textContent = `${fmt(S.view.start, 2)}–${fmt(S.view.end, 2)} s`;
  syncScrollbar();
  draw();
  renderBoxes();
  loadSpectrogram();
}
function zoom(factor, anchor) {
  const { start, end } = S.view;
  const a = anchor ?? (start + end) / 2;
  setView(a - (a - start) * factor, a + (end - a) * factor);
}

const loadSpectrogram = debounce(async () => {
  if (!S.rec) return;
  const { start, end } = S.view;
  const cols = Math.max(16, Math.min(4000, Math.round(plotWidth())));
  const path = S.rec.path;
  try {
    const s = await api('GET', `/api/spectrogram?${q({ path, start: start.toFixed(4), end: end.toFixed(4), cols, bins: 64 })}`,
      undefined, fresh('spectrogram'));
    if (!S.rec || S.rec.path !== path) return;
    S.spec = { start: s.start, end: s.end, img: spectrogramImage(s) };
    draw();
  } catch (e) { report(e, 'Spectrogram'); }
}, 80);

// 256-entry colour map (viridis, interpolated from five stops): perceptually even and legible.
const LUT = (() => {
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * (stops.length - 1), k = Math.min(Math.floor(x), stops.length - 2), f = x - k;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = stops[k][c] + (stops[k + 1][c] - stops[k][c]) * f;
  }
  return lut;
})();

function spectrogramImage(s) {
  const bytes = Uint8Array.from(atob(s.data), (ch) => ch.charCodeAt(0));
  const img = document.createElement('canvas');
  img.width = s.cols; img.height = s.bins;
  const ctx = img.getContext('2d');
  const im = ctx.createImageData(s.cols, s.bins);
  // data is column-major with low frequencies first; the image puts them at the bottom.
  for (let c = 0; c < s.cols; c++) {
    for (let b = 0; b < s.bins; b++) {
      const v = bytes[c * s.bins + b] ?? 0, o = ((s.bins - 1 - b) * s.cols + c) * 4;
      im.data[o] = LUT[v * 3]; im.data[o + 1] = LUT[v * 3 + 1]; im.data[o + 2] = LUT[v * 3 + 2]; im.data[o + 3] = 255;
    }
  }
  ctx.putImageData(im, 0, 0);
  return img;
}

// ---------------------------------------------------------------- drawing
// Vertical layout of the timeline, CSS pixels. Events and labels are DOM buttons laid over their
// lanes (keyboard-reachable, with tooltips); the rest is drawn on the canvas.
// The events and labels lanes have one row per class so that overlapping boxes of different
// classes stay apart and clickable.
const L = { gutter: 84, spec: 160, scores: 100, lane: 26, row: 16, axis: 22 };
function relayout() {
  L.rows = S.scores ? S.scores.classes : (currentDetector() || {}).classes || [];
  L.labelRows = S.classes.filter((c) => S.labels.strong.some((l) => l.label === c));
  L.eventsH = Math.max(L.lane, L.row * L.rows.length);
  L.labelsH = Math.max(L.lane, L.row * L.labelRows.length);
  L.scoresTop = L.spec + 4;
  L.eventsTop = L.scoresTop + L.scores + 4;
  L.labelsTop = L.eventsTop + L.eventsH + 2;
  L.axisTop = L.labelsTop + L.labelsH + 2;
  L.height = L.axisTop + L.axis;
}
relayout();

const plotWidth = () => Math.max(10, $('timeline').clientWidth - L.gutter - 2);
const xOf = (t) => L.gutter + ((t - S.view.start) / (S.view.end - S.view.start)) * plotWidth();
const tOf = (x) => S.view.start + ((x - L.gutter) / plotWidth()) * (S.view.end - S.view.start);

function draw() {
  relayout();
  const cv = $('timeline-canvas');
  const w = $('timeline').clientWidth, dpr = window.devicePixelRatio || 1;
  if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(L.height * dpr)) {
    cv.width = Math.round(w * dpr); cv.height = Math.round(L.height * dpr);
    cv.style.height = `${L.height}px`;
  }
  const ctx = cv.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, L.height);
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#5d6675';
  const rows = [['spectrogram', 0], ['scores', L.scoresTop], ['events', L.eventsTop], ['labels', L.labelsTop], ['time, s', L.axisTop]];
  for (const [name, y] of rows) ctx.fillText(name, 4, y + 14);
  if (!S.rec) return;
  const pw = plotWidth(), right = L.gutter + pw;
  ctx.save();
  ctx.beginPath(); ctx.rect(L.gutter, 0, pw, L.height); ctx.clip();
  // Spectrogram: the last image, stretched to where its stretch lies in the current view, so
  // panning and zooming move at once and sharpen when the new one arrives.
  ctx.fillStyle = '#222';
  ctx.fillRect(L.gutter, 0, pw, L.spec);
  if (S.spec) {
    const x0 = xOf(S.spec.start), x1 = xOf(S.spec.end);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(S.spec.img, x0, 0, x1 - x0, L.spec);
  }
  drawScores(ctx, pw);
  ctx.fillStyle = '#f0f2f5';
  ctx.fillRect(L.gutter, L.eventsTop, pw, L.eventsH);
  ctx.fillRect(L.gutter, L.labelsTop, pw, L.labelsH);
  if (S.selection) {
    const a = xOf(S.selection.onset), b = xOf(S.selection.offset);
    ctx.fillStyle = 'rgba(47, 95, 208, .25)';
    ctx.fillRect(a, 0, b - a, L.axisTop);
    ctx.strokeStyle = '#2f5fd0'; ctx.strokeRect(a, 0.5, b - a, L.axisTop - 1);
  }
  if (S.playhead !== null) {
    ctx.strokeStyle = '#d00'; ctx.beginPath();
    ctx.moveTo(xOf(S.playhead), 0); ctx.lineTo(xOf(S.playhead), L.axisTop); ctx.stroke();
  }
  ctx.restore();
  drawAxis(ctx, pw, right);
}

function drawScores(ctx, pw) {
  const top = L.scoresTop, h = L.scores, y = (v) => top + h - v * h;
  ctx.fillStyle = '#fafbfc'; ctx.fillRect(L.gutter, top, pw, h);
  ctx.strokeStyle = '#e3e6eb';
  for (const v of [0.25, 0.5, 0.75]) { ctx.beginPath(); ctx.moveTo(L.gutter, y(v)); ctx.lineTo(L.gutter + pw, y(v)); ctx.stroke(); }
  const sc = S.scores;
  if (!sc) return;
  const cls = $('threshold-class').value;
  const { onsets, offsets } = sc;
  // First frame that ends after the view start (frames are in time order).
  let lo = 0, hi = onsets.length;
  while (lo < hi) { const m = (lo + hi) >> 1; if (offsets[m] < S.view.start) lo = m + 1; else hi = m; }
  for (const c of sc.classes) {
    const vals = sc.scores[c];
    if (!vals) continue;
    // Per pixel column, the highest score of the frames covering it: a one-hour recording draws
    // as fast as a 10 s one, and short peaks never disappear between pixels.
    const col = new Float32Array(Math.ceil(pw) + 1).fill(-1);
    for (let i = lo; i < onsets.length && onsets[i] <= S.view.end; i++) {
      const a = Math.max(0, Math.floor(xOf(onsets[i]) - L.gutter)), b = Math.min(col.length - 1, Math.ceil(xOf(offsets[i]) - L.gutter));
      for (let p = a; p <= b; p++) if (vals[i] > col[p]) col[p] = vals[i];
    }
    ctx.strokeStyle = colour(c); ctx.lineWidth = cls && cls !== c ? 0.6 : 1.5;
    ctx.beginPath();
    let pen = false;
    for (let p = 0; p < col.length; p++) {
      if (col[p] < 0) { pen = false; continue; }
      if (pen) ctx.lineTo(L.gutter + p, y(col[p])); else ctx.moveTo(L.gutter + p, y(col[p]));
      pen = true;
    }
    ctx.stroke();
    // The threshold in force for this class, dashed.
    const t = S.threshold ?? (sc.thresholds || {})[c];
    if (t !== undefined && (!cls || cls === c)) {
      ctx.setLineDash([4, 3]); ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(L.gutter, y(t)); ctx.lineTo(L.gutter + pw, y(t)); ctx.stroke();
      ctx.setLineDash([]);
    }
  }
  ctx.lineWidth = 1;
}

function drawAxis(ctx, pw, right) {
  const span = S.view.end - S.view.start;
  // The smallest "nice" step that leaves ~90 px between tick labels.
  const steps = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const step = steps.find((s) => (s / span) * pw >= 90) || 7200;
  const digits = step >= 1 ? 0 : Math.ceil(-Math.log10(step) - 1e-9);
  ctx.strokeStyle = '#9aa3b0'; ctx.fillStyle = '#1d2330';
  ctx.beginPath(); ctx.moveTo(L.gutter, L.axisTop + 0.5); ctx.lineTo(right, L.axisTop + 0.5); ctx.stroke();
  for (let t = Math.ceil(S.view.start / step) * step; t <= S.view.end + 1e-9; t += step) {
    const x = Math.round(xOf(t)) + 0.5;
    ctx.beginPath(); ctx.moveTo(x, L.axisTop); ctx.lineTo(x, L.axisTop + 5); ctx.stroke();
    const label = t >= 60 && step >= 1 ? `${Math.floor(t / 60)}:${String(Math.round(t % 60)).padStart(2, '0')}` : t.toFixed(digits);
    ctx.fillText(label, Math.min(x + 2, right - 30), L.axisTop + 16);
  }
}

// Event and label boxes of the visible stretch, as buttons (at most a few hundred: beyond that
// they would be narrower than a pixel anyway).
function renderBoxes() {
  relayout();
  const pw = plotWidth();
  const lane = (id, top, height, items, make) => {
    const node = $(id);
    node.style.top = `${top}px`; node.style.height = `${height}px`;
    node.style.left = `${L.gutter}px`; node.style.width = `${pw}px`;
    const vis = items.map((it, i) => [it, i]).filter(([it]) => it.offset >= S.view.start && it.onset <= S.view.end).slice(0, 500);
    node.replaceChildren(...vis.map(([it, i]) => {
      const a = Math.max(-2, xOf(it.onset) - L.gutter), b = Math.min(pw + 2, xOf(it.offset) - L.gutter);
      const box = el('button', { type: 'button', textContent: b - a > 40 ? it.label : '' });
      box.style.left = `${a}px`; box.style.width = `${Math.max(3, b - a)}px`;
      box.style.background = colour(it.label);
      box.dataset.onset = it.onset; box.dataset.offset = it.offset; box.dataset.label = it.label;
      make(box, it, i);
      return box;
    }));
  };
  const place = (box, rows, height, cls) => {
    const rowH = rows.length ? height / rows.length : height;
    box.style.top = `${Math.max(0, rows.indexOf(cls)) * rowH + 1}px`;
    box.style.height = `${rowH - 2}px`;
  };
  lane('event-lane', L.eventsTop, L.eventsH, S.events, (box, ev) => {
    box.className = 'box event-box';
    place(box, L.rows, L.eventsH, ev.label);
    box.title = `${ev.label} ${fmt(ev.onset, 3)}–${fmt(ev.offset, 3)} s (click to play)`;
    box.addEventListener('click', () => play(ev.onset, ev.offset));
  });
  lane('label-lane', L.labelsTop, L.labelsH, S.labels.strong, (box, lab, i) => {
    box.className = `box label-box${i === S.selected ? ' selected' : ''}`;
    place(box, L.labelRows, L.labelsH, lab.label);
    box.title = `label ${lab.label} ${fmt(lab.onset, 3)}–${fmt(lab.offset, 3)} s (click to select and play)`;
    box.addEventListener('click', () => selectLabel(i, true));
  });
}

function renderLegend() {
  const classes = S.scores ? S.scores.classes : (currentDetector() || {}).classes || [];
  $('legend').replaceChildren(...classes.map((c) => {
    const s = el('span', { textContent: c });
    s.style.setProperty('--c', colour(c));
    return s;
  }));
}

function syncScrollbar() {
  const sc = $('timeline-scroll'), inner = $('timeline-scroll-inner');
  const dur = S.rec ? S.rec.duration : 1, span = S.view.end - S.view.start;
  // Browsers cap element widths (~33 M px); 5 M px is plenty and keeps the mapping linear.
  inner.style.width = `${Math.min(5e6, sc.clientWidth * (dur / span))}px`;
  const room = inner.offsetWidth - sc.clientWidth;
  const want = dur > span ? Math.round((S.view.start / (dur - span)) * room) : 0;
  if (Math.abs(sc.scrollLeft - want) > 1) { S.ownScroll = true; sc.scrollLeft = want; }
}

// ---------------------------------------------------------------- audio
function play(start, end) {
  if (!S.rec) return;
  const player = $('player');
  S.play = { start, end };
  player.src = `/api/audio?${q({ path: S.rec.path, start: start.toFixed(3), end: end.toFixed(3) })}`;
  player.play().catch((e) => {
    // AbortError: a newer click replaced this one. Others (no audio output) are worth a line.
    if (e.name !== 'AbortError') showMessage(`Playback did not start: ${e.message}`, false);
  });
}

// ---------------------------------------------------------------- threshold, events, summary
function syncSlider() {
  const det = currentDetector(), cls = $('threshold-class').value;
  if (S.threshold === null) {
    const ts = det ? det.thresholds || {} : {};
    const t = cls ? ts[cls] : Object.values(ts)[0];
    if (typeof t === 'number') $('threshold').value = t;
    $('threshold-value').textContent = "detector's";
  } else {
    $('threshold-value').textContent = Number(S.threshold).toFixed(2);
  }
}

async function loadEvents() {
  if (!S.rec || !S.detector || !S.scores) {
    S.events = [];
    $('detection-count').textContent = '–';
    $('metrics').textContent = '';
    renderBoxes();
    return;
  }
  const cls = $('threshold-class').value;
  const asked = S.threshold === null ? 'default' : Number(S.threshold).toFixed(2);
  try {
    const r = await api('GET', `/api/events?${q({ path: S.rec.path, detector: S.detector,
      threshold: S.threshold === null ? null : asked, class: cls })}`, undefined, fresh('events'));
    S.events = r.events || [];
    $('detection-count').textContent = r.count ?? S.events.length;
    $('detection-count').dataset.threshold = asked;
    const m = r.metrics;
    $('metrics').textContent = m ? `P ${fmt(m.precision)} · R ${fmt(m.recall)} · F1 ${fmt(m.f1)} (tp ${m.tp}, fp ${m.fp}, fn ${m.fn})`
      : 'no strong labels here: no P/R';
    renderBoxes();
  } catch (e) { report(e, 'Events'); }
}

async function loadSummary() {
  if (!S.detector) { $('summary').textContent = ''; return; }
  const cls = $('threshold-class').value;
  try {
    const r = await api('GET', `/api/summary?${q({ detector: S.detector,
      threshold: S.threshold === null ? null : Number(S.threshold).toFixed(2), class: cls })}`, undefined, fresh('summary'));
    const m = r.metrics;
    $('summary').textContent = `project: ${r.count} detections in ${r.recordings} scanned recordings` +
      (m ? `; P ${fmt(m.precision)} · R ${fmt(m.recall)} · F1 ${fmt(m.f1)} over ${r.labelled} labelled` : '');
  } catch (e) {
    if (e.status === 404) $('summary').textContent = `project: not scanned by ${S.detector} yet`;
    else report(e, 'Summary');
  }
}

// The slider re-thresholds the cached scores on the server: once per frame at most, stale
// answers aborted, so dragging stays smooth.
const refreshThreshold = perFrame(() => { syncSlider(); draw(); loadEvents(); loadSummary(); });

async function saveThreshold() {
  const det = currentDetector();
  if (!det) return;
  const t = Number($('threshold').value), cls = $('threshold-class').value;
  const body = {};
  for (const c of cls ? [cls] : det.classes) body[c] = t;
  try {
    await api('PUT', `/api/detectors/${encodeURIComponent(det.name)}/thresholds`, body);
    showMessage(`Saved threshold ${t.toFixed(2)} for ${cls || 'every class'} in ${det.name}.`, false);
    await loadDetectors(det.name);
    await loadRecordings();
  } catch (e) { report(e, 'Saving the threshold'); }
}

// ---------------------------------------------------------------- jobs
// Polls a job until it ends, mirroring it on a <progress> (data-state for scripts and tests).
async function followJob(id, bar, status) {
  bar.hidden = false; bar.dataset.state = 'running'; bar.value = 0;
  for (;;) {
    let job;
    try { job = await api('GET', `/api/jobs/${encodeURIComponent(id)}`); } catch (e) {
      bar.dataset.state = 'failed'; report(e, `Job ${id}`); throw e;
    }
    bar.value = job.progress ?? 0;
    status.textContent = job.message || job.state;
    if (job.state !== 'running') {
      bar.dataset.state = job.state;
      if (job.state === 'failed') {
        status.textContent = `failed: ${job.error || job.message || 'no reason given'}`;
        showMessage(`${job.kind} of ${job.detector} failed: ${job.error || job.message}`, true);
      }
      return job;
    }
    await new Promise((r) => setTimeout(r, 400));
  }
}

async function startScan() {
  const name = S.detector;
  if (!name) return;
  $('scan-start').disabled = true;
  try {
    const { job } = await api('POST', '/api/scan', { detector: name });
    await scanFinished(await followJob(job, $('scan-progress'), $('scan-status')));
  } catch (e) { report(e, `Scanning with ${name}`); } finally { $('scan-start').disabled = !S.detector; }
}
async function scanFinished(job) {
  if (job.state !== 'done') return;
  $('scan-status').textContent = `scan by ${job.detector} done`;
  await loadDetectors(S.detector);
  await loadRecordings();
  if (S.rec) await openRecording(S.rec.path);
}

// ---------------------------------------------------------------- train dialog
const POOLINGS = { pooled: ['mean', 'max', 'mean_max'], mil: ['max', 'mean', 'linear_softmax', 'attention', 'auto_pool'] };
// Each head's pooling when none is picked, as `earmark train` has them: max for the CRNN and a MIL
// head; max keeps a short event's trace in a long pooled window.
const POOLING_DEFAULT = { crnn: 'max', mil: 'max' };
function fillPoolings() {
  const head = $('train-head').value, sel = $('train-pooling');
  if (sel.dataset.head === head) return;
  const list = POOLINGS[head === 'mil' || head === 'crnn' ? 'mil' : 'pooled'];
  sel.replaceChildren(...list.map((p) => el('option', { value: p, textContent: p })));
  sel.value = POOLING_DEFAULT[head] || 'max';
  sel.dataset.head = head;
}

// The head `earmark train` picks when none is given (its resolve_head): the CRNN for the built-in
// encoder with clip (weak) labels, gradient-boosted trees otherwise. The dropdown follows it
// until the user picks a head; a pick the encoder or labels rule out falls back to it.
let headPicked = false;
function defaultHead() {
  const encoder = $('train-encoder').value || 'scratch';  // the request's default, before the list loads
  return encoder === 'scratch' && $('train-labels').value === 'weak' ? 'crnn' : 'gbt';
}
function syncHead() {
  const head = $('train-head'), crnnOk = defaultHead() === 'crnn';
  const crnn = head.querySelector('option[value=crnn]'), mil = head.querySelector('option[value=mil]');
  crnn.disabled = !crnnOk;
  crnn.title = crnnOk ? '' : 'The CRNN trains the built-in encoder (scratch) from clip (weak) labels';
  // With the built-in encoder and clip labels `earmark train --head mil` means the CRNN.
  mil.disabled = crnnOk;
  mil.title = crnnOk ? 'With the built-in encoder and clip labels the MIL head is the CRNN' : '';
  if (!headPicked || head.selectedOptions[0]?.disabled) head.value = defaultHead();
  const isCrnn = head.value === 'crnn';
  // The CRNN learns its own frames and chooses thresholds on held-out clips.
  $('train-layers').disabled = isCrnn;
  $('train-calibration').disabled = isCrnn;
  $('head-note').textContent = isCrnn
    ? 'The CRNN trains the built-in encoder and a frame head together from the clip labels, as earmark train --weak does; layers and calibration do not apply.'
    : '';
  fillPoolings();
}

async function openTrain() {
  const dlg = $('train-dialog');
  if (!dlg.open) dlg.showModal();
  if ($('train-progress').dataset.state !== 'running') {
    $('train-progress').hidden = true; $('train-status').textContent = ''; $('train-metrics').replaceChildren();
  }
  const names = new Set(S.detectors.map((d) => d.name));
  let n = 1;
  while (names.has(`detector-${n}`)) n++;
  if (!$('train-name').value || names.has($('train-name').value)) $('train-name').value = `detector-${n}`;
  try {
    const models = await api('GET', '/api/models');
    const sel = $('train-encoder'), keep = sel.value || 'scratch';
    sel.replaceChildren(...models.map((m) => el('option', {
      value: m.name, disabled: !m.available,
      textContent: `${m.name} (${m.family}, ${m.layers} layers, ${m.dim}-d)${m.available ? '' : ` — unavailable: ${m.reason}`}`,
      title: m.available ? `${m.family}, dim ${m.dim}` : m.reason,
    })));
    const ok = models.filter((m) => m.available).map((m) => m.name);
    sel.value = ok.includes(keep) ? keep : (ok[0] || '');
    syncHead();
    const missing = models.length - ok.length;
    $('encoder-note').textContent = missing ? `${missing} encoder(s) greyed out: their weights are not on this machine (hover for where they were looked for).` : '';
  } catch (e) { report(e, 'Loading the encoder list'); }
}

async function submitTrain(ev) {
  ev.preventDefault();
  const num = (id) => ($(id).value === '' ? undefined : Number($(id).value));
  const body = {
    name: $('train-name').value.trim(), encoder: $('train-encoder').value, layers: $('train-layers').value.trim() || 'last',
    pooling: $('train-pooling').value, head: $('train-head').value, calibration: $('train-calibration').value,
    labels: $('train-labels').value, window: num('train-window'), hop: num('train-hop'),
    max_iter: num('train-max-iter'), epochs: num('train-epochs'),
  };
  $('train-submit').disabled = true;
  $('train-metrics').replaceChildren();
  try {
    const { job } = await api('POST', '/api/train', body);
    const done = await followJob(job, $('train-progress'), $('train-status'));
    if (done.state === 'done') {
      const warnings = (done.result && done.result.warnings) || [];
      $('train-status').textContent = `Trained ${body.name}${done.result && done.result.head ? ` (${done.result.head})` : ''}.`
        + (warnings.length ? ` Warnings: ${warnings.join('; ')}.` : '') + ' Validation:';
      $('train-metrics').replaceChildren(metricsTable(done.result));
      await loadDetectors(body.name);
      await loadRecordings();
    }
  } catch (e) {
    $('train-status').textContent = `failed: ${e.message}`;
    report(e, `Training ${body.name}`);
  } finally { $('train-submit').disabled = false; }
}

// Per class: positives, average precision, ROC AUC and the chosen threshold's P/R/F1, when the
// result has `validation.classes` (detector.json's layout); any other shape as a flat table.
function metricsTable(obj) {
  const classes = obj && obj.validation && obj.validation.classes;
  if (classes && typeof classes === 'object') {
    const head = ['class', 'positives', 'AP', 'ROC AUC', 'threshold', 'P', 'R', 'F1'];
    return el('table', {}, el('tr', {}, ...head.map((h) => el('th', { textContent: h }))),
      ...Object.entries(classes).map(([c, m]) => {
        const t = m.threshold || {};
        const cells = [c, m.positives ?? '–', fmt(m.average_precision), fmt(m.roc_auc), fmt(t.value), fmt(t.precision), fmt(t.recall), fmt(t.f1)];
        return el('tr', {}, ...cells.map((v) => el('td', { textContent: v })));
      }));
  }
  return flatTable(obj);
}
function flatTable(obj) {
  const rows = [];
  const walk = (v, key) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(x, key ? `${key}.${k}` : k);
    else if (rows.length < 60) rows.push([key, typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : JSON.stringify(v)]);
  };
  walk(obj, '');
  if (!rows.length) return el('p', { className: 'muted', textContent: 'no validation metrics reported' });
  return el('table', {}, ...rows.map(([k, v]) => el('tr', {}, el('td', { textContent: k }), el('td', { textContent: v }))));
}

// ---------------------------------------------------------------- labels
function renderLabels() {
  const list = $('label-list');
  list.replaceChildren(...S.labels.strong.map((l, i) => el('li', {}, el('button', {
    type: 'button', className: i === S.selected ? 'selected' : '',
    textContent: `${l.label}  ${fmt(l.onset, 3)}–${fmt(l.offset, 3)} s`,
    onclick: () => selectLabel(i, true),
  }))));
  if (!S.labels.strong.length) list.append(el('li', { className: 'muted', textContent: S.rec ? 'no strong labels' : '' }));
  $('label-delete').disabled = S.selected < 0;
  renderWeak();
  renderBoxes();
}

function renderWeak() {
  const weak = S.labels.weak || [];
  $('weak-classes').replaceChildren(...S.classes.map((c) => el('label', {},
    el('input', { type: 'checkbox', value: c, checked: weak.includes(c) }), ` ${c}`)));
  $('weak-status').textContent = !S.rec ? '' : S.labels.weak === null ? 'not clip-labelled yet'
    : weak.length ? `saved: ${weak.join(', ')}` : 'saved: no event';
}

function selectLabel(i, andPlay) {
  S.selected = S.selected === i && !andPlay ? -1 : i;
  renderLabels();
  const l = S.labels.strong[i];
  if (andPlay && l) play(l.onset, l.offset);
}

function setSelection(a, b) {
  S.selection = a === null ? null : { onset: Math.min(a, b), offset: Math.max(a, b) };
  $('label-onset').value = S.selection ? S.selection.onset.toFixed(3) : '';
  $('label-offset').value = S.selection ? S.selection.offset.toFixed(3) : '';
  draw();
}

// Labels are saved whole per recording (PUT replaces both lists), then everything that counts
// them is re-read so the page shows what the files now hold.
async function saveLabels(strong, weak, what) {
  const path = S.rec.path;
  await api('PUT', `/api/labels?${q({ path })}`, { strong, weak });
  const now = await api('GET', `/api/labels?${q({ path })}`);
  S.labels = { strong: now.strong || [], weak: now.weak ?? null };
  addClasses(S.labels.strong.map((l) => l.label));
  addClasses(S.labels.weak || []);
  renderLabels();
  showMessage(what, false);
  loadRecordings().catch((e) => report(e, 'Loading recordings'));
  loadEvents();
  loadSummary();
}

async function addLabel(ev) {
  ev.preventDefault();
  if (!S.rec) { showMessage('Open a recording first.', true); return; }
  const onset = Number($('label-onset').value), offset = Number($('label-offset').value);
  const label = $('label-class').value.trim();
  if (!(offset > onset)) { showMessage('A label needs "to" after "from".', true); return; }
  const strong = [...S.labels.strong, { onset, offset, label }].sort((a, b) => a.onset - b.onset);
  try {
    await saveLabels(strong, S.labels.weak, `Added ${label} ${onset.toFixed(3)}–${offset.toFixed(3)} s.`);
    S.selected = S.labels.strong.findIndex((l) => l.label === label && Math.abs(l.onset - onset) < 1e-3);
    setSelection(null);
    renderLabels();
  } catch (e) { report(e, 'Saving the label'); }
}

async function deleteLabel() {
  if (!S.rec || S.selected < 0) return;
  const gone = S.labels.strong[S.selected];
  const strong = S.labels.strong.filter((_, i) => i !== S.selected);
  try {
    S.selected = -1;
    await saveLabels(strong, S.labels.weak, `Deleted ${gone.label} ${fmt(gone.onset, 3)}–${fmt(gone.offset, 3)} s.`);
  } catch (e) { report(e, 'Deleting the label'); }
}

async function saveWeak(ev) {
  ev.preventDefault();
  if (!S.rec) { showMessage('Open a recording first.', true); return; }
  const picked = [...$('weak-classes').querySelectorAll('input:checked')].map((i) => i.value);
  const extra = $('weak-new').value.split(',').map((s) => s.trim()).filter(Boolean);
  const weak = [...new Set([...picked, ...extra])];
  try {
    await saveLabels(S.labels.strong, weak, `Clip label of ${S.rec.path}: ${weak.length ? weak.join(', ') : 'no event'}.`);
    $('weak-new').value = '';
  } catch (e) { report(e, 'Saving the clip label'); }
}

// ---------------------------------------------------------------- timeline interaction
function bindTimeline() {
  const tl = $('timeline');
  let drag = null;
  const xIn = (e) => e.clientX - tl.getBoundingClientRect().left;
  tl.addEventListener('pointerdown', (e) => {
    if (!S.rec || e.button !== 0 || e.target.closest('.box')) return;
    const selecting = e.shiftKey || $('label-mode').checked;
    drag = { x: xIn(e), start: S.view.start, end: S.view.end, selecting, moved: false };
    tl.setPointerCapture(e.pointerId);
    tl.classList.toggle('selecting', selecting);
  });
  tl.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const x = xIn(e);
    if (Math.abs(x - drag.x) > 3) drag.moved = true;
    if (!drag.moved) return;
    if (drag.selecting) {
      const clamp = (t) => Math.min(S.rec.duration, Math.max(0, t));
      setSelection(clamp(tOf(drag.x)), clamp(tOf(x)));
    } else {
      const dt = ((x - drag.x) / plotWidth()) * (drag.end - drag.start);
      setView(drag.start - dt, drag.end - dt);
    }
  });
  const end = () => {
    if (drag && drag.selecting && drag.moved) $('label-class').focus();
    drag = null;
    tl.classList.remove('selecting');
  };
  tl.addEventListener('pointerup', end);
  tl.addEventListener('pointercancel', end);
  // Wheel zooms around the pointer; horizontal wheel (or shift+wheel) pans.
  tl.addEventListener('wheel', (e) => {
    if (!S.rec) return;
    e.preventDefault();
    const span = S.view.end - S.view.start;
    if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      const d = ((e.shiftKey ? e.deltaY : e.deltaX) / plotWidth()) * span;
      setView(S.view.start + d, S.view.end + d);
    } else {
      zoom(Math.exp(e.deltaY * 0.0015), tOf(xIn(e)));
    }
  }, { passive: false });
  tl.addEventListener('keydown', (e) => {
    if (!S.rec) return;
    const span = S.view.end - S.view.start;
    const keys = { '+': () => zoom(0.5), '=': () => zoom(0.5), '-': () => zoom(2),
      ArrowLeft: () => setView(S.view.start - span / 4, S.view.end - span / 4),
      ArrowRight: () => setView(S.view.start + span / 4, S.view.end + span / 4),
      Delete: deleteLabel };
    if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
  });
  $('timeline-scroll').addEventListener('scroll', () => {
    if (S.ownScroll) { S.ownScroll = false; return; }
    if (!S.rec) return;
    const sc = $('timeline-scroll'), room = $('timeline-scroll-inner').offsetWidth - sc.clientWidth;
    const span = S.view.end - S.view.start, start = room > 0 ? (sc.scrollLeft / room) * (S.rec.duration - span) : 0;
    setView(start, start + span);
  });
  new ResizeObserver(() => { draw(); renderBoxes(); syncScrollbar(); loadSpectrogram(); }).observe(tl);
}

// ---------------------------------------------------------------- wiring
function bind() {
  $('message-close').addEventListener('click', () => { $('message').hidden = true; });
  $('recordings').addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-path]');
    if (tr) openRecording(tr.dataset.path);
  });
  $('scan-detector').addEventListener('change', (e) => setDetector(e.target.value));
  $('scan-start').addEventListener('click', startScan);
  $('threshold').addEventListener('input', () => { S.threshold = Number($('threshold').value); refreshThreshold(); });
  $('threshold-class').addEventListener('change', () => { if (S.threshold === null) syncSlider(); refreshThreshold(); });
  $('threshold-save').addEventListener('click', saveThreshold);
  $('threshold-reset').addEventListener('click', () => { S.threshold = null; refreshThreshold(); });
  $('zoom-in').addEventListener('click', () => zoom(0.5));
  $('zoom-out').addEventListener('click', () => zoom(2));
  $('zoom-fit').addEventListener('click', () => S.rec && setView(0, S.rec.duration));
  $('train-open').addEventListener('click', openTrain);
  $('train-close').addEventListener('click', () => $('train-dialog').close());
  $('train-head').addEventListener('change', () => { headPicked = true; syncHead(); });
  $('train-encoder').addEventListener('change', syncHead);
  $('train-labels').addEventListener('change', syncHead);
  $('train-form').addEventListener('submit', submitTrain);
  $('label-form').addEventListener('submit', addLabel);
  $('label-cancel').addEventListener('click', () => setSelection(null));
  $('label-delete').addEventListener('click', deleteLabel);
  $('weak-editor').addEventListener('submit', saveWeak);
  const player = $('player');
  player.addEventListener('timeupdate', () => {
    S.playhead = S.play && !player.paused ? S.play.start + player.currentTime : null;
    draw();
  });
  player.addEventListener('ended', () => { S.playhead = null; draw(); });
  player.addEventListener('error', () => {
    if (player.src) showMessage(`The audio of ${S.rec ? S.rec.path : 'this stretch'} could not be played.`, true);
  });
  bindTimeline();
}

// A job that was running when the page was (re)loaded is followed again.
async function resumeJobs() {
  const jobs = await api('GET', '/api/jobs');
  for (const job of jobs.filter((j) => j.state === 'running')) {
    if (job.kind === 'scan') {
      followJob(job.id, $('scan-progress'), $('scan-status')).then(scanFinished).catch((e) => report(e, 'Scan'));
    } else {
      $('train-status').textContent = `training ${job.detector}…`;
      followJob(job.id, $('train-progress'), $('train-status'))
        .then(() => loadDetectors()).catch((e) => report(e, 'Training'));
    }
  }
}

async function init() {
  bind();
  syncHead();
  draw();
  try {
    await loadProject();
    await loadDetectors();
    if (!S.detector) await loadRecordings();
    await resumeJobs();
  } catch (e) { report(e, 'Loading the project'); }
}

init();
