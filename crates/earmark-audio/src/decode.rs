//! Streaming decode with symphonia, mix-down to mono, and the whole-file helpers.

use crate::error::AudioError;
use crate::limits::{self, MAX_LOAD_SAMPLES};
use crate::resample::StreamResampler;
use crate::sniff::{sniff, Container};
use earmark_core::{Seconds, Waveform};
use std::path::{Path, PathBuf};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// What a file holds, as found by decoding it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AudioInfo {
    pub path: PathBuf,
    /// Container: `"wav"`, `"flac"`, `"mp3"` or `"ogg"`.
    pub format: String,
    /// Codec, symphonia's short name: `"pcm_s16le"`, `"pcm_f32le"`, `"flac"`, `"mp3"`, `"vorbis"`, ...
    pub codec: String,
    pub channels: usize,
    pub sample_rate: u32,
    /// Frames per channel. From [`info`]: frames actually decoded. From [`crate::Windows::info`]:
    /// what the header declares (0 when the container does not say, e.g. some MP3s).
    pub frames: u64,
    pub duration: Seconds,
    /// Bits per coded sample where the codec has such a thing (PCM, FLAC).
    pub bits_per_sample: Option<u32>,
}

/// An open file that yields mono blocks at the file's own rate.
pub(crate) struct Source {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    pub(crate) info: AudioInfo,
    /// Frames the header declares, if it does.
    header_frames: Option<u64>,
    /// Frames decoded so far (per channel).
    decoded: u64,
    interleaved: Option<SampleBuffer<f32>>,
    mono: Vec<f32>,
    /// The first block was decoded by `open` (to learn rate and channels) and not handed out yet.
    primed: bool,
    done: bool,
}

fn map_err(path: &Path, e: SymError, stage: &str) -> AudioError {
    let path = path.to_path_buf();
    match e {
        SymError::IoError(source) => AudioError::Open { path, source },
        SymError::DecodeError(reason) => AudioError::Decode {
            path,
            reason: format!("{stage}: {reason}"),
        },
        SymError::Unsupported(what) => AudioError::Unsupported {
            path,
            what: what.to_string(),
        },
        SymError::LimitError(what) => AudioError::Limit {
            path,
            what: what.to_string(),
            max: 0,
        },
        SymError::ResetRequired => AudioError::Unsupported {
            path,
            what: "stream parameters change mid-file (chained stream)".into(),
        },
        SymError::SeekError(_) => AudioError::Decode {
            path,
            reason: format!("{stage}: seek error"),
        },
    }
}

fn is_eof(e: &SymError) -> bool {
    matches!(e, SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof)
}

impl Source {
    pub(crate) fn open(path: &Path) -> Result<Source, AudioError> {
        let (container, wav) = sniff(path)?;
        let file = std::fs::File::open(path).map_err(|source| AudioError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        hint.with_extension(container.extension());
        let fmt_opts = FormatOptions {
            // Trim MP3 encoder delay and padding so sample 0 is the first sample the encoder saw:
            // without it every MP3 event would be late by ~1 105 samples.
            enable_gapless: true,
            ..Default::default()
        };
        let probed = symphonia::default::get_probe()
            .format(&hint, mss, &fmt_opts, &MetadataOptions::default())
            .map_err(|e| match e {
                SymError::Unsupported(what) => AudioError::NotAudio {
                    path: path.to_path_buf(),
                    reason: what.to_string(),
                },
                e if is_eof(&e) => AudioError::Decode {
                    path: path.to_path_buf(),
                    reason: "the file ends inside its header or index (truncated?)".into(),
                },
                // symphonia's wording for a chunk that claims more bytes than its RIFF parent:
                // a WAV whose sizes disagree, most often a recording cut off before the header
                // was finalised.
                SymError::DecodeError(r) if r.contains("exceeds parent") => AudioError::Decode {
                    path: path.to_path_buf(),
                    reason: format!(
                        "damaged or truncated WAV header: a chunk claims more bytes than the RIFF size ({r})"
                    ),
                },
                e => map_err(path, e, "reading the header"),
            })?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| AudioError::NotAudio {
                path: path.to_path_buf(),
                reason: "no audio track".into(),
            })?;
        let params = track.codec_params.clone();
        let track_id = track.id;
        let codec = symphonia::default::get_codecs()
            .get_codec(params.codec)
            .map(|d| d.short_name.to_string())
            .unwrap_or_else(|| format!("{:?}", params.codec));
        if let Some(ch) = params.channels {
            limits::check_channels(path, ch.count())?;
        }
        if let Some(rate) = params.sample_rate {
            limits::check_rate(path, rate)?;
        }
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|e| match e {
                SymError::Unsupported(_) => AudioError::Unsupported {
                    path: path.to_path_buf(),
                    what: format!("codec {codec}"),
                },
                e => map_err(path, e, "opening the decoder"),
            })?;
        let header_frames = params.n_frames;
        let info = AudioInfo {
            path: path.to_path_buf(),
            format: container.name().to_string(),
            codec,
            channels: params.channels.map(|c| c.count()).unwrap_or(0),
            sample_rate: params.sample_rate.unwrap_or(0),
            frames: header_frames.unwrap_or(0),
            duration: Seconds(0.0),
            bits_per_sample: params
                .bits_per_sample
                .or(params.bits_per_coded_sample)
                .or(wav.map(|f| f.bits as u32))
                .filter(|_| matches!(container, Container::Wav | Container::Flac)),
        };
        let mut src = Source {
            path: path.to_path_buf(),
            format,
            decoder,
            track_id,
            info,
            header_frames,
            decoded: 0,
            interleaved: None,
            mono: Vec::new(),
            primed: false,
            done: false,
        };
        // Decode the first block now: MP3 and Vorbis only reveal rate and channels there, and a
        // header with zero frames is found here rather than by the first caller.
        if src.decode_next()? {
            src.primed = true;
        } else {
            return Err(AudioError::Empty {
                path: path.to_path_buf(),
            });
        }
        src.info.duration = Seconds(if src.info.sample_rate > 0 {
            src.info.frames as f64 / src.info.sample_rate as f64
        } else {
            0.0
        });
        Ok(src)
    }

    pub(crate) fn rate(&self) -> u32 {
        self.info.sample_rate
    }

    pub(crate) fn frames_decoded(&self) -> u64 {
        self.decoded
    }

    /// The next block of mono samples, `None` at the end of the stream.
    pub(crate) fn next_block(&mut self) -> Result<Option<&[f32]>, AudioError> {
        if self.primed {
            self.primed = false;
            return Ok(Some(&self.mono));
        }
        if self.decode_next()? {
            Ok(Some(&self.mono))
        } else {
            Ok(None)
        }
    }

    /// Decode packets until one yields samples (→ `true`, in `self.mono`) or the stream ends.
    fn decode_next(&mut self) -> Result<bool, AudioError> {
        if self.done {
            return Ok(false);
        }
        loop {
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                Err(e) if is_eof(&e) => return self.end().map(|_| false),
                Err(e) => {
                    return Err(map_err(
                        &self.path,
                        e,
                        &format!("reading after frame {}", self.decoded),
                    ))
                }
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(d) => d,
                Err(e) if is_eof(&e) => return self.end().map(|_| false),
                Err(e) => {
                    return Err(map_err(
                        &self.path,
                        e,
                        &format!("decoding after frame {}", self.decoded),
                    ))
                }
            };
            let spec = *decoded.spec();
            let frames = decoded.frames();
            if frames == 0 {
                continue;
            }
            let channels = spec.channels.count();
            limits::check_channels(&self.path, channels)?;
            limits::check_rate(&self.path, spec.rate)?;
            if self.decoded == 0 && !self.primed {
                self.info.channels = channels;
                self.info.sample_rate = spec.rate;
            } else if channels != self.info.channels || spec.rate != self.info.sample_rate {
                return Err(AudioError::Unsupported {
                    path: self.path.clone(),
                    what: format!(
                        "stream changes from {} ch at {} Hz to {channels} ch at {} Hz after frame {}",
                        self.info.channels, self.info.sample_rate, spec.rate, self.decoded
                    ),
                });
            }
            // Reuse the conversion buffer while it is big enough (symphonia asserts on size).
            let need = decoded.capacity().max(frames);
            let buf = match &mut self.interleaved {
                Some(b) if b.capacity() >= need * channels => b,
                slot => slot.insert(SampleBuffer::<f32>::new(need as u64, spec)),
            };
            buf.copy_interleaved_ref(decoded);
            let samples = &buf.samples()[..frames * channels];
            self.mono.clear();
            if channels == 1 {
                self.mono.extend_from_slice(samples);
            } else {
                // Mean of the channels in f32, summed left to right (torch's `x.mean(0)` order).
                let scale = 1.0 / channels as f32;
                let exact_half = channels == 2;
                self.mono.extend(samples.chunks_exact(channels).map(|f| {
                    let s: f32 = f.iter().sum();
                    if exact_half {
                        s / 2.0
                    } else {
                        s * scale
                    }
                }));
            }
            if let Some(i) = samples.iter().position(|v| !v.is_finite()) {
                let frame = self.decoded + (i / channels) as u64;
                return Err(AudioError::NonFinite {
                    path: self.path.clone(),
                    sample_index: frame,
                    seconds: frame as f64 / spec.rate as f64,
                });
            }
            self.decoded += frames as u64;
            return Ok(true);
        }
    }

    /// End of stream: compare with the header's promise.
    fn end(&mut self) -> Result<(), AudioError> {
        self.done = true;
        if let Some(expected) = self.header_frames {
            if self.decoded < expected {
                return Err(AudioError::Truncated {
                    path: self.path.clone(),
                    expected_frames: expected,
                    got_frames: self.decoded,
                });
            }
        }
        if self.decoded == 0 {
            return Err(AudioError::Empty {
                path: self.path.clone(),
            });
        }
        Ok(())
    }
}

/// Decode the whole file (streaming, constant memory) and report what it holds.
///
/// Because every packet is decoded, a truncated file, a corrupt packet or a non-finite sample is
/// reported here as an error, and `frames` is the number of frames actually decoded.
pub fn info(path: &Path) -> Result<AudioInfo, AudioError> {
    let mut src = Source::open(path)?;
    while src.next_block()?.is_some() {}
    let mut info = src.info.clone();
    info.frames = src.frames_decoded();
    info.duration = Seconds(info.frames as f64 / info.sample_rate as f64);
    Ok(info)
}

/// Decode the whole file, mix it to mono and resample it to `target_rate` when that differs.
///
/// For recordings longer than memory allows use [`crate::Windows`]; this refuses more than
/// [`MAX_LOAD_SAMPLES`](crate::limits::MAX_LOAD_SAMPLES) samples with [`AudioError::Limit`].
pub fn load_mono(path: &Path, target_rate: Option<u32>) -> Result<Waveform, AudioError> {
    let mut src = Source::open(path)?;
    let rate = src.rate();
    let out_rate = target_rate.unwrap_or(rate);
    let mut resampler = if out_rate != rate {
        Some(StreamResampler::new(rate, out_rate)?)
    } else {
        None
    };
    let too_long = |path: &Path| AudioError::Limit {
        path: path.to_path_buf(),
        what: "length for load_mono (stream it with Windows instead)".into(),
        max: MAX_LOAD_SAMPLES,
    };
    let mut out = Vec::new();
    if let Some(n) = src.header_frames {
        let n_out = resampler.as_ref().map_or(n, |r| r.expected_len(n));
        if n_out > MAX_LOAD_SAMPLES {
            return Err(too_long(path));
        }
        out.reserve(n_out as usize);
    }
    while let Some(block) = src.next_block()? {
        match &mut resampler {
            Some(r) => r.push(block, &mut out)?,
            None => out.extend_from_slice(block),
        }
        if out.len() as u64 > MAX_LOAD_SAMPLES {
            return Err(too_long(path));
        }
    }
    if let Some(r) = &mut resampler {
        r.finish(&mut out)?;
    }
    Ok(Waveform::new(out_rate, out))
}
