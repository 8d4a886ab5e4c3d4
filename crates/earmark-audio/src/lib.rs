//! earmark's audio input: decode any supported file, mix it to mono, resample it without moving
//! it in time, and cut long recordings into windows without holding them in memory.
//!
//! * [`info`] decodes a whole file in constant memory and says what it holds.
//! * [`load_mono`] returns a whole file as a mono [`Waveform`], optionally resampled.
//! * [`Windows`] streams fixed-length windows (overlapping or not) over recordings of any length,
//!   decoding and resampling incrementally; streamed windows equal slices of [`load_mono`]'s output.
//! * [`resample`] is the band-limited, delay-compensated resampler behind both (see [`mod@resample`]
//!   for the quality settings and the alignment guarantee).
//! * [`write_wav`] writes PCM or float WAV files atomically.
//!
//! Formats: WAV (PCM 8/16/24/32-bit, float 32/64, A-law/µ-law, `WAVE_FORMAT_EXTENSIBLE`, any
//! chunks before `data`), FLAC, MP3 (gapless: encoder delay trimmed) and Ogg Vorbis, through
//! symphonia. Multi-channel audio becomes the mean of its channels (f32).
//!
//! # Bad input
//!
//! Library code never panics on a file's contents; every problem is an [`AudioError`] naming the
//! file, split by what to do about it: `NotAudio`, `Empty` (0 bytes or 0 frames), `Truncated` (the
//! header promises more frames than decode), `Unsupported` (e.g. ADPCM in WAV), `NoChannels`,
//! `Decode` (corrupt data), `Limit` (see [`limits`]).
//!
//! **Non-finite samples are an error**, not silently replaced: a float file holding NaN or
//! infinity gives [`AudioError::NonFinite`] with the frame index and time of the first one. A
//! substituted zero would look like real silence to a detector and its scores; refusing makes the
//! broken file visible, and the index tells the user where to look.
//!
//! # Example
//!
//! ```
//! use earmark_audio::{load_mono, write_wav, LastWindow, WavFormat, WindowOptions, Windows};
//!
//! # fn main() -> Result<(), earmark_audio::AudioError> {
//! let dir = std::env::temp_dir().join(format!("earmark-audio-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("tone.wav");
//! // 2.5 s of a 440 Hz tone at 44.1 kHz, stereo (both channels the same).
//! let tone: Vec<f32> = (0..110_250)
//!     .flat_map(|i| {
//!         let x = 0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 44_100.0).sin();
//!         [x, x]
//!     })
//!     .collect();
//! write_wav(&path, &tone, 44_100, 2, WavFormat::Pcm16)?;
//!
//! let info = earmark_audio::info(&path)?;
//! assert_eq!((info.format.as_str(), info.codec.as_str()), ("wav", "pcm_s16le"));
//! assert_eq!((info.channels, info.frames), (2, 110_250));
//!
//! // Whole file, mono, at 16 kHz: ceil(110250 · 16000 / 44100) samples.
//! let wave = load_mono(&path, Some(16_000))?;
//! assert_eq!(wave.len(), 40_000);
//!
//! // 1 s windows every 0.5 s; the last one is zero-padded.
//! let opts = WindowOptions { window_secs: 1.0, hop_secs: 0.5, target_rate: Some(16_000), last: LastWindow::Pad };
//! let windows: Vec<_> = Windows::open(&path, &opts)?.collect::<Result<_, _>>()?;
//! assert_eq!(windows.len(), 4); // starts 0, 0.5, 1.0, 1.5 s; the last reaches 2.5 s
//! assert_eq!(windows[3].valid, 16_000);
//! assert_eq!(windows[3].samples[..], wave.samples[24_000..40_000]);
//! assert_eq!(windows[1].grid().start_sample(0), 8_000);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(())
//! # }
//! ```

mod decode;
mod error;
pub mod limits;
pub mod resample;
mod sniff;
mod wav;
mod windows;

pub use decode::{info, load_mono, AudioInfo};
pub use earmark_core::{FrameGrid, Seconds, Span, Waveform};
pub use error::AudioError;
pub use resample::resample;
pub use wav::{write_wav, write_wav_f32, write_wav_pcm16, WavFormat, WavWriter};
pub use windows::{LastWindow, Window, WindowOptions, Windows};
