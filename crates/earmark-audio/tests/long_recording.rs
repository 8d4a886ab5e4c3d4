//! Peak heap while streaming windows over a 3-hour recording.
//!
//! Alone in its own test binary because the counting `#[global_allocator]` sees every allocation
//! of the process: other tests running in parallel would inflate the peak.

use earmark_audio::{load_mono, LastWindow, WavFormat, WavWriter, WindowOptions, Windows};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(l.size(), Relaxed) + l.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        CURRENT.fetch_sub(l.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new > l.size() {
                let now = CURRENT.fetch_add(new - l.size(), Relaxed) + (new - l.size());
                PEAK.fetch_max(now, Relaxed);
            } else {
                CURRENT.fetch_sub(l.size() - new, Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A cheap deterministic signal: a slow triangle plus a 1 kHz square-ish pattern.
fn block(start: u64, n: usize, rate: u32) -> Vec<f32> {
    (0..n as u64)
        .map(|i| {
            let k = start + i;
            let tri = ((k % (rate as u64 * 7)) as f32 / (rate as f32 * 7.0) - 0.5) * 0.5;
            let sq = if (k / 8).is_multiple_of(2) { 0.1 } else { -0.1 };
            tri + sq
        })
        .collect()
}

fn write_long(path: &std::path::Path, rate: u32, secs: u64) {
    let mut w = WavWriter::create(path, rate, 1, WavFormat::Pcm16).unwrap();
    let total = rate as u64 * secs;
    let mut at = 0;
    while at < total {
        let n = (total - at).min(1 << 16) as usize;
        w.write(&block(at, n, rate)).unwrap();
        at += n as u64;
    }
    w.finish().unwrap();
}

#[test]
fn three_hours_stream_in_constant_memory() {
    let dir = std::env::temp_dir().join(format!("earmark-audio-long-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let t0 = std::time::Instant::now();

    // 1) 3 h at 16 kHz, 16-bit: 345.6 MB on disk, 691.2 MB as decoded f32.
    let path = dir.join("three_hours.wav");
    let secs = 3 * 3600;
    write_long(&path, 16_000, secs);
    let frames = 16_000u64 * secs;
    let decoded_bytes = frames * 4;
    let t_write = t0.elapsed();

    let base = CURRENT.load(Relaxed);
    PEAK.store(base, Relaxed);
    let opts = WindowOptions {
        window_secs: 10.0,
        hop_secs: 5.0,
        target_rate: None,
        last: LastWindow::Pad,
    };
    let mut n = 0u64;
    let mut checksum = 0.0f64;
    for w in Windows::open(&path, &opts).unwrap() {
        let w = w.unwrap();
        assert_eq!(w.start_sample, n * 80_000);
        assert_eq!(w.samples.len(), 160_000);
        checksum += w.samples[0] as f64;
        n += 1;
    }
    let peak = PEAK.load(Relaxed) - base;
    let t_scan = t0.elapsed() - t_write;
    // Windows at 0, 5, ..., 10 790 s: the one at 10 790 s ends exactly at 3 h.
    assert_eq!(n, (secs - 10) / 5 + 1);
    eprintln!(
        "3 h 16 kHz WAV ({:.1} MB on disk, {:.1} MB decoded f32): {n} windows, peak heap {:.2} MB \
         (write {:.1} s, scan {:.1} s, checksum {checksum:.3})",
        std::fs::metadata(&path).unwrap().len() as f64 / 1e6,
        decoded_bytes as f64 / 1e6,
        peak as f64 / 1e6,
        t_write.as_secs_f64(),
        t_scan.as_secs_f64()
    );
    assert!(peak < 16 << 20, "peak heap {peak} bytes");
    std::fs::remove_file(&path).unwrap();

    // 2) Streaming through the resampler: 20 min at 22.05 kHz → 16 kHz, overlapping windows.
    let path = dir.join("twenty_minutes_22k.wav");
    write_long(&path, 22_050, 20 * 60);
    let base = CURRENT.load(Relaxed);
    PEAK.store(base, Relaxed);
    let opts = WindowOptions {
        window_secs: 10.0,
        hop_secs: 2.5,
        target_rate: Some(16_000),
        last: LastWindow::Pad,
    };
    let mut n = 0u64;
    let mut first_tail = Vec::new();
    for w in Windows::open(&path, &opts).unwrap() {
        let w = w.unwrap();
        if n == 100 {
            first_tail = w.samples.clone();
        }
        n += 1;
    }
    let peak_rs = PEAK.load(Relaxed) - base;
    eprintln!(
        "20 min 22.05 kHz → 16 kHz windows: {n} windows, peak heap {:.2} MB (decoded f32 would be {:.1} MB)",
        peak_rs as f64 / 1e6,
        (22_050.0 * 1200.0 * 4.0) / 1e6
    );
    assert_eq!(n, (1200 * 16_000 - 160_000) / 40_000 + 1);
    assert!(peak_rs < 16 << 20, "peak heap {peak_rs} bytes");
    // Streamed equals whole-file, across the resampler.
    let whole = load_mono(&path, Some(16_000)).unwrap();
    assert_eq!(whole.len(), 1200 * 16_000);
    assert_eq!(
        first_tail[..],
        whole.samples[100 * 40_000..100 * 40_000 + 160_000]
    );
    std::fs::remove_dir_all(&dir).unwrap();
    eprintln!("total {:.1} s", t0.elapsed().as_secs_f64());
}
