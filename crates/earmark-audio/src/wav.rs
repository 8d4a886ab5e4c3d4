//! A small WAV writer (PCM 8/16/24/32-bit, float 32/64), streamed and atomic.
//!
//! earmark reads audio with symphonia but needs to *write* WAV for demo files, exported clips and
//! tests; the format is simple enough that a dependency is not worth it. Files are written to a
//! temporary name beside the target and renamed into place when complete, so a crash never
//! leaves a half-written file under the real name.

use crate::error::AudioError;
use crate::limits;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Sample encoding of a written WAV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WavFormat {
    /// Unsigned 8-bit PCM.
    Pcm8,
    /// Signed 16-bit PCM (CD quality; what most tools expect).
    Pcm16,
    /// Signed 24-bit PCM.
    Pcm24,
    /// Signed 32-bit PCM.
    Pcm32,
    /// IEEE float 32-bit (lossless for earmark's f32 samples).
    F32,
    /// IEEE float 64-bit.
    F64,
}

impl WavFormat {
    pub fn bits(self) -> u16 {
        match self {
            WavFormat::Pcm8 => 8,
            WavFormat::Pcm16 => 16,
            WavFormat::Pcm24 => 24,
            WavFormat::Pcm32 | WavFormat::F32 => 32,
            WavFormat::F64 => 64,
        }
    }

    fn tag(self) -> u16 {
        match self {
            WavFormat::F32 | WavFormat::F64 => 3,
            _ => 1,
        }
    }

    fn bytes(self) -> usize {
        self.bits() as usize / 8
    }

    /// Encode one sample. PCM is `round(x · 2^(bits−1))` clamped, the inverse of the usual
    /// `int / 2^(bits−1)` decode, so decoding a written file gives the quantised input back exactly.
    fn encode(self, x: f32, out: &mut Vec<u8>) {
        let q = |scale: f64, lo: f64, hi: f64| (x as f64 * scale).round().clamp(lo, hi);
        match self {
            WavFormat::Pcm8 => out.push((q(128.0, -128.0, 127.0) as i16 + 128) as u8),
            WavFormat::Pcm16 => {
                out.extend_from_slice(&(q(32768.0, -32768.0, 32767.0) as i16).to_le_bytes())
            }
            WavFormat::Pcm24 => {
                let v = q(8_388_608.0, -8_388_608.0, 8_388_607.0) as i32;
                out.extend_from_slice(&v.to_le_bytes()[..3]);
            }
            WavFormat::Pcm32 => {
                let v = q(2_147_483_648.0, -2_147_483_648.0, 2_147_483_647.0) as i32;
                out.extend_from_slice(&v.to_le_bytes());
            }
            WavFormat::F32 => out.extend_from_slice(&x.to_le_bytes()),
            WavFormat::F64 => out.extend_from_slice(&(x as f64).to_le_bytes()),
        }
    }
}

/// Streams interleaved samples into a WAV file; [`WavWriter::finish`] fixes the header sizes and
/// renames the file into place. Dropping it unfinished removes the temporary file.
pub struct WavWriter {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
    format: WavFormat,
    channels: u16,
    data_bytes: u64,
    bytes: Vec<u8>,
}

const HEADER_BYTES: u64 = 44;

impl WavWriter {
    pub fn create(
        path: &Path,
        rate: u32,
        channels: usize,
        format: WavFormat,
    ) -> Result<WavWriter, AudioError> {
        if channels == 0 || channels > limits::MAX_CHANNELS {
            return Err(AudioError::BadOptions {
                reason: format!(
                    "cannot write {channels} channels (1..={})",
                    limits::MAX_CHANNELS
                ),
            });
        }
        limits::check_option_rate("WAV rate", rate)?;
        let name = path.file_name().ok_or_else(|| AudioError::BadOptions {
            reason: format!("{}: not a file path", path.display()),
        })?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.tmp", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let write_err = |source| AudioError::Write {
            path: path.to_path_buf(),
            source,
        };
        let file = File::create(&tmp).map_err(write_err)?;
        let mut w = WavWriter {
            path: path.to_path_buf(),
            tmp,
            out: Some(BufWriter::with_capacity(1 << 16, file)),
            format,
            channels: channels as u16,
            data_bytes: 0,
            bytes: Vec::new(),
        };
        let block_align = channels as u16 * format.bytes() as u16;
        let mut h = Vec::with_capacity(HEADER_BYTES as usize);
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&0u32.to_le_bytes()); // patched by finish
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&format.tag().to_le_bytes());
        h.extend_from_slice(&(channels as u16).to_le_bytes());
        h.extend_from_slice(&rate.to_le_bytes());
        h.extend_from_slice(&(rate * block_align as u32).to_le_bytes());
        h.extend_from_slice(&block_align.to_le_bytes());
        h.extend_from_slice(&format.bits().to_le_bytes());
        h.extend_from_slice(b"data");
        h.extend_from_slice(&0u32.to_le_bytes()); // patched by finish
        w.write_bytes(&h)?;
        Ok(w)
    }

    fn write_bytes(&mut self, b: &[u8]) -> Result<(), AudioError> {
        if let Some(out) = &mut self.out {
            out.write_all(b).map_err(|source| AudioError::Write {
                path: self.path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Append interleaved samples (a whole number of frames is not required between calls).
    pub fn write(&mut self, samples: &[f32]) -> Result<(), AudioError> {
        let mut bytes = std::mem::take(&mut self.bytes);
        for block in samples.chunks(1 << 14) {
            bytes.clear();
            for &x in block {
                self.format.encode(x, &mut bytes);
            }
            self.data_bytes += bytes.len() as u64;
            if self.data_bytes > u32::MAX as u64 - HEADER_BYTES {
                return Err(AudioError::Limit {
                    path: self.path.clone(),
                    what: "WAV data size in bytes".into(),
                    max: u32::MAX as u64 - HEADER_BYTES,
                });
            }
            self.write_bytes(&bytes)?;
        }
        self.bytes = bytes;
        Ok(())
    }

    /// Patch the sizes, flush, and rename into place.
    pub fn finish(mut self) -> Result<(), AudioError> {
        let err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| AudioError::Write { path, source }
        };
        let frame_bytes = self.channels as u64 * self.format.bytes() as u64;
        if !self.data_bytes.is_multiple_of(frame_bytes) {
            return Err(AudioError::BadOptions {
                reason: format!(
                    "{}: sample count is not a multiple of {} channels",
                    self.path.display(),
                    self.channels
                ),
            });
        }
        let Some(mut out) = self.out.take() else {
            return Ok(());
        };
        if self.data_bytes % 2 == 1 {
            out.write_all(&[0]).map_err(err(&self.path))?; // RIFF word alignment
        }
        let riff = (HEADER_BYTES - 8 + self.data_bytes + self.data_bytes % 2) as u32;
        out.seek(SeekFrom::Start(4)).map_err(err(&self.path))?;
        out.write_all(&riff.to_le_bytes())
            .map_err(err(&self.path))?;
        out.seek(SeekFrom::Start(40)).map_err(err(&self.path))?;
        out.write_all(&(self.data_bytes as u32).to_le_bytes())
            .map_err(err(&self.path))?;
        let file = out
            .into_inner()
            .map_err(|e| err(&self.path)(e.into_error()))?;
        file.sync_all().map_err(err(&self.path))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.path).map_err(err(&self.path))?;
        Ok(())
    }
}

impl Drop for WavWriter {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Write interleaved `samples` (`channels` per frame) as a WAV file, atomically.
pub fn write_wav(
    path: &Path,
    samples: &[f32],
    rate: u32,
    channels: usize,
    format: WavFormat,
) -> Result<(), AudioError> {
    let mut w = WavWriter::create(path, rate, channels, format)?;
    w.write(samples)?;
    w.finish()
}

/// [`write_wav`] as 16-bit PCM.
pub fn write_wav_pcm16(
    path: &Path,
    samples: &[f32],
    rate: u32,
    channels: usize,
) -> Result<(), AudioError> {
    write_wav(path, samples, rate, channels, WavFormat::Pcm16)
}

/// [`write_wav`] as 32-bit float.
pub fn write_wav_f32(
    path: &Path,
    samples: &[f32],
    rate: u32,
    channels: usize,
) -> Result<(), AudioError> {
    write_wav(path, samples, rate, channels, WavFormat::F32)
}
