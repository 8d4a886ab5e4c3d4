#!/usr/bin/env bash
# Dev-set benchmark (not a test): train -> scan -> eval on the real-sound dev set built by
# ../shared/devset/build.sh DEV, with wall time and peak memory of each step.
#
#   scripts/devset_bench.sh DEV OUT [-- extra args for `earmark train`]
#
# DEV: the dev-set folder (train/audio, train/weak.tsv, test/audio, long/audio, truth/).
# OUT: where everything goes; OUT/det, OUT/scan, OUT/scan_long and earlier reports are replaced.
#   OUT/det                  the trained detector
#   OUT/scan, OUT/scan_long  scans of test/audio (with score tables) and of long/audio
#   OUT/eval.json            `earmark eval` on the test set (event, segment, PSDS1 and PSDS2)
#   OUT/eval_long.json       `earmark eval` on the long recording (when truth/long_strong.tsv exists)
#   OUT/logs/                each step's output and its `/usr/bin/time -f '%e %M'` line
#   OUT/bench.json, OUT/bench.md   the summary (also printed)
#
# Environment:
#   EARMARK               the binary (default: target/release/earmark, built with
#                         `cargo build --release --locked` when missing)
#   EARMARK_BENCH_DETECTOR  an already trained detector folder: copied to OUT/det instead of
#                         training (the train row then says so); for measuring saved detectors.
#   EARMARK_BENCH_CACHE   `cold` (default): the embedding cache is a fresh OUT/cache, removed at the
#                         end, so train and scan times include computing embeddings; `warm`: use the
#                         usual cache ($EARMARK_CACHE or ~/.cache/earmark/embeddings).
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ $# -ge 2 ] || usage
DEV=$1
OUT=$2
dev_arg=$1
shift 2
if [ $# -gt 0 ]; then
  [ "$1" = "--" ] || usage
  shift
fi
TRAIN_EXTRA=("$@")

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEV=$(cd "$DEV" && pwd) || { echo "no dev set folder: $dev_arg" >&2; exit 2; }
for f in train/audio train/weak.tsv test/audio truth/test_strong.tsv truth/test_durations.tsv long/audio; do
  [ -e "$DEV/$f" ] || { echo "$DEV/$f is missing: build the dev set with ../shared/devset/build.sh DEV" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "needs python3" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }

if [ -n "${EARMARK:-}" ]; then
  bin=$EARMARK
else
  bin=$root/target/release/earmark
  if [ ! -x "$bin" ]; then
    echo "building $bin" >&2
    (cd "$root" && cargo build --release --locked)
  fi
fi
[ -x "$bin" ] || bin=$(command -v "$bin") || { echo "EARMARK=$bin: not an executable" >&2; exit 2; }

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -rf "$OUT/det" "$OUT/scan" "$OUT/scan_long" "$OUT/logs" "$OUT/cache"
rm -f "$OUT/eval.json" "$OUT/eval_long.json" "$OUT/bench.json" "$OUT/bench.md"
mkdir -p "$OUT/logs"

cache_mode=${EARMARK_BENCH_CACHE:-cold}
case $cache_mode in
  cold)
    export EARMARK_CACHE=$OUT/cache
    trap 'rm -rf "$OUT/cache"' EXIT
    ;;
  warm) ;;
  *) echo "EARMARK_BENCH_CACHE=$cache_mode: use cold or warm" >&2; exit 2 ;;
esac

# step NAME CMD...: runs CMD under /usr/bin/time (OUT/logs/NAME.time: "wall_s maxrss_kib"), output
# to the terminal and OUT/logs/NAME.log; stops the benchmark when CMD fails.
step() {
  local name=$1
  shift
  echo "== $name: $*" >&2
  local rc=0
  /usr/bin/time -f '%e %M' -o "$OUT/logs/$name.time" "$@" 2>&1 | tee "$OUT/logs/$name.log" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "$name failed (exit $rc); output in $OUT/logs/$name.log" >&2
    exit "$rc"
  fi
  echo "== $name: $(tail -n 1 "$OUT/logs/$name.time" | awk '{printf "%s s wall, %.0f MiB peak RSS", $1, $2 / 1024}')" >&2
}

if [ -n "${EARMARK_BENCH_DETECTOR:-}" ]; then
  cp -r "$EARMARK_BENCH_DETECTOR" "$OUT/det"
  echo "== train: skipped, detector copied from $EARMARK_BENCH_DETECTOR" >&2
else
  step train "$bin" train --audio "$DEV/train/audio" --weak "$DEV/train/weak.tsv" --out "$OUT/det" \
    ${TRAIN_EXTRA[@]+"${TRAIN_EXTRA[@]}"}
fi
step scan "$bin" scan --detector "$OUT/det" --out "$OUT/scan" --scores "$DEV/test/audio"
step scan_long "$bin" scan --detector "$OUT/det" --out "$OUT/scan_long" "$DEV/long/audio"
# without a --psds-scenario flag, eval computes and writes both PSDS1 and PSDS2
step eval "$bin" eval --pred "$OUT/scan/events.tsv" --truth "$DEV/truth/test_strong.tsv" \
  --durations "$DEV/truth/test_durations.tsv" --scores "$OUT/scan/scores" --json "$OUT/eval.json"
if [ -f "$DEV/truth/long_strong.tsv" ]; then
  long_durations=()
  [ -f "$DEV/truth/long_durations.tsv" ] && long_durations=(--durations "$DEV/truth/long_durations.tsv")
  step eval_long "$bin" eval --pred "$OUT/scan_long/events.tsv" --truth "$DEV/truth/long_strong.tsv" \
    ${long_durations[@]+"${long_durations[@]}"} --json "$OUT/eval_long.json"
fi

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit+dirty"
fi

python3 - "$DEV" "$OUT" "$bin" "$commit" "$cache_mode" ${TRAIN_EXTRA[@]+"${TRAIN_EXTRA[@]}"} <<'PY'
import datetime, json, math, os, socket, sys

dev, out, binary, commit, cache_mode = sys.argv[1:6]
train_extra = sys.argv[6:]


def p(*parts):
    return os.path.join(*parts)


def load(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def timing(name):
    """(wall s, peak RSS MiB) from /usr/bin/time -f '%e %M' (the last line; GNU time puts
    'Command exited with non-zero status' first when it does)."""
    path = p(out, "logs", name + ".time")
    if not os.path.exists(path):
        return None, None
    with open(path) as f:
        lines = [l.split() for l in f if l.strip()]
    wall, kib = lines[-1][:2]
    return float(wall), int(kib) / 1024.0


def tsv_rows(path, labelled_only=False):
    """Data rows of a DCASE TSV (header skipped); labelled_only: rows with an event label."""
    n = 0
    with open(path) as f:
        for i, line in enumerate(f):
            cols = line.rstrip("\n").split("\t")
            if not line.strip() or (i == 0 and cols[0] == "filename"):
                continue
            if labelled_only and (len(cols) < 4 or not cols[3].strip()):
                continue
            n += 1
    return n


def total_duration(path):
    s = 0.0
    with open(path) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            try:
                s += float(cols[1])
            except (IndexError, ValueError):
                pass  # header
    return s


def fin(x):
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


def get(d, *keys):
    for k in keys:
        if d is None:
            return None
        d = d.get(k) if isinstance(d, dict) else None
    return d


def mean(xs):
    xs = [x for x in xs if fin(x) is not None]
    return sum(xs) / len(xs) if xs else None


ev = load(p(out, "eval.json"))
ev_long = load(p(out, "eval_long.json"))

psds = {}
for item in get(ev, "scores", "psds") or []:
    s = item["psds"]
    psds[item["name"]] = dict(
        value=fin(s.get("value")),
        class_mean=mean(c.get("psds") for c in s.get("classes", [])),
        classes={c["class"]: fin(c.get("psds")) for c in s.get("classes", [])},
    )

test_audio_s = total_duration(p(dev, "truth", "test_durations.tsv"))
long_dur_path = p(dev, "truth", "long_durations.tsv")
if os.path.exists(long_dur_path):
    long_audio_s = total_duration(long_dur_path)
else:
    long_audio_s = (get(load(p(out, "scan_long", "summary.json")), "audio_hours") or 0.0) * 3600.0

train_wall, train_mib = timing("train")
scan_wall, scan_mib = timing("scan")
long_wall, long_mib = timing("scan_long")

det_test = tsv_rows(p(out, "scan", "events.tsv"))
true_test = tsv_rows(p(dev, "truth", "test_strong.tsv"), labelled_only=True)
det_long = tsv_rows(p(out, "scan_long", "events.tsv"))
long_hours = long_audio_s / 3600.0 if long_audio_s > 0 else None

metrics = dict(
    event_f1_micro=fin(get(ev, "event_based", "overall", "f_measure", "f_measure")),
    event_f1_macro=fin(get(ev, "event_based", "class_wise_average", "f_measure", "f_measure")),
    event_collar_s=get(ev, "event_options", "t_collar_secs"),
    segment_f1_micro=fin(get(ev, "segment_based", "overall", "f_measure", "f_measure")),
    segment_f1_macro=fin(get(ev, "segment_based", "class_wise_average", "f_measure", "f_measure")),
    segment_s=get(ev, "segment_secs"),
    psds1=get(psds, "psds1", "value"),
    psds1_class_mean=get(psds, "psds1", "class_mean"),
    psds2=get(psds, "psds2", "value"),
    psds2_class_mean=get(psds, "psds2", "class_mean"),
    matched_events=get(ev, "boundary", "overall", "matched"),
    onset_error_median_s=fin(get(ev, "boundary", "overall", "onset", "median")),
    offset_error_median_s=fin(get(ev, "boundary", "overall", "offset", "median")),
    onset_abs_error_median_s=fin(get(ev, "boundary", "overall", "onset", "median_abs")),
    offset_abs_error_median_s=fin(get(ev, "boundary", "overall", "offset", "median_abs")),
    test_detections=det_test,
    test_true_events=true_test,
    test_audio_s=test_audio_s,
    long_detections=det_long,
    long_audio_s=long_audio_s,
    long_detections_per_hour=det_long / long_hours if long_hours else None,
    long_true_events=tsv_rows(p(dev, "truth", "long_strong.tsv"), labelled_only=True)
    if os.path.exists(p(dev, "truth", "long_strong.tsv")) else None,
    long_matched_events=get(ev_long, "boundary", "overall", "matched"),
    long_event_f1_micro=fin(get(ev_long, "event_based", "overall", "f_measure", "f_measure")),
    train_wall_s=train_wall,
    train_peak_mib=train_mib,
    scan_wall_s=scan_wall,
    scan_real_time_factor=test_audio_s / scan_wall if scan_wall else None,
    scan_peak_mib=scan_mib,
    scan_long_wall_s=long_wall,
    scan_long_real_time_factor=long_audio_s / long_wall if long_wall else None,
    scan_long_peak_mib=long_mib,
)
metrics["long_false_alarms_per_hour"] = (
    (det_long - metrics["long_matched_events"]) / long_hours
    if metrics["long_matched_events"] is not None and long_hours else None)

classes = []
for name in (ev or {}).get("classes", []):
    evt = next((c for c in get(ev, "event_based", "class_wise") or [] if c["label"] == name), None)
    seg = next((c for c in get(ev, "segment_based", "class_wise") or [] if c["label"] == name), None)
    classes.append(dict(
        cls=name,
        event_f1=fin(get(evt, "metrics", "f_measure", "f_measure")),
        segment_f1=fin(get(seg, "metrics", "f_measure", "f_measure")),
        psds1=get(psds, "psds1", "classes", name),
        psds2=get(psds, "psds2", "classes", name),
        true_events=int(evt["n_ref"]) if evt else None,
        detections=int(evt["n_sys"]) if evt else None,
        matched=get(ev, "boundary", "class_wise", name, "matched"),
        onset_error_median_s=fin(get(ev, "boundary", "class_wise", name, "onset", "median")),
    ))

bench = dict(
    date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    host=socket.gethostname(), cpus=os.cpu_count(), commit=commit, binary=binary,
    devset=dev, out=out, train_extra_args=train_extra, embedding_cache=cache_mode,
    metrics=metrics, classes=classes,
)
tmp = p(out, "bench.json.tmp")
with open(tmp, "w") as f:
    json.dump(bench, f, indent=2)
    f.write("\n")
os.replace(tmp, p(out, "bench.json"))


def f3(x):
    return "-" if x is None else f"{x:.3f}"


def f1(x):
    return "-" if x is None else f"{x:.1f}"


def pair(a, b, fmt=f3):
    return f"{fmt(a)} / {fmt(b)}"


def n(x):
    return "-" if x is None else str(x)


m = metrics
col = m["event_collar_s"]
seg = m["segment_s"]
rows = [
    (f"event F1 micro / macro ({col if col is not None else '-'} s collar)", pair(m["event_f1_micro"], m["event_f1_macro"])),
    (f"segment F1 micro / macro ({seg if seg is not None else '-'} s)", pair(m["segment_f1_micro"], m["segment_f1_macro"])),
    ("PSDS1 headline / class mean", pair(m["psds1"], m["psds1_class_mean"])),
    ("PSDS2 headline / class mean", pair(m["psds2"], m["psds2_class_mean"])),
    ("median onset / offset error, matched (s)", pair(m["onset_error_median_s"], m["offset_error_median_s"])),
    ("median abs onset / offset error, matched (s)", pair(m["onset_abs_error_median_s"], m["offset_abs_error_median_s"])),
    ("test: detections / true events (matched)", f"{det_test} / {true_test} ({n(m['matched_events'])})"),
    (f"long ({f1(long_audio_s / 60)} min): detections, per hour",
     f"{det_long}, {f1(m['long_detections_per_hour'])}/h"),
    ("long: true events (matched), event F1", f"{n(m['long_true_events'])} ({n(m['long_matched_events'])}), {f3(m['long_event_f1_micro'])}"),
    ("long: false alarms per hour (detections − matched)", f1(m["long_false_alarms_per_hour"])),
    ("train: wall s / peak MiB", pair(train_wall, train_mib, f1)),
    (f"scan test ({f1(test_audio_s / 60)} min): wall s / real-time factor / peak MiB",
     f"{f1(scan_wall)} / {f1(m['scan_real_time_factor'])}× / {f1(scan_mib)}"),
    ("scan long: wall s / real-time factor / peak MiB",
     f"{f1(long_wall)} / {f1(m['scan_long_real_time_factor'])}× / {f1(long_mib)}"),
]
md = [f"Dev-set benchmark: {commit}, {bench['date']}, {bench['cpus']} CPUs, embedding cache {cache_mode}"
      + (f", train args: `{' '.join(train_extra)}`" if train_extra else ""), "",
      "| metric | value |", "|---|---|"]
md += [f"| {a} | {b} |" for a, b in rows]
if classes:
    md += ["", "| class | event F1 | segment F1 | PSDS1 | PSDS2 | true events | detections | matched | onset median (s) |",
           "|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {c['cls']} | {f3(c['event_f1'])} | {f3(c['segment_f1'])} | {f3(c['psds1'])} | {f3(c['psds2'])} "
           f"| {n(c['true_events'])} | {n(c['detections'])} | {n(c['matched'])} | {f3(c['onset_error_median_s'])} |"
           for c in classes]
text = "\n".join(md) + "\n"
with open(p(out, "bench.md"), "w") as f:
    f.write(text)
print()
print(text, end="")
missing = [k for k, v in metrics.items() if v is None]
if missing:
    print(f"\nnot filled: {', '.join(missing)}", file=sys.stderr)
PY
echo "wrote $OUT/bench.json and $OUT/bench.md" >&2
