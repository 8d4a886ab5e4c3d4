//! Cheap header checks before symphonia sees the file.
//!
//! Why: symphonia reports an ADPCM tag, a zero channel count or a random text file all as generic
//! errors; reading the first bytes ourselves lets each case get its own [`AudioError`] variant,
//! and names the container for [`crate::AudioInfo::format`].

use crate::error::AudioError;
use crate::limits;
use std::io::Read;
use std::path::Path;

/// The container, by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    Wav,
    Flac,
    Mp3,
    Ogg,
}

impl Container {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Container::Wav => "wav",
            Container::Flac => "flac",
            Container::Mp3 => "mp3",
            Container::Ogg => "ogg",
        }
    }

    pub(crate) fn extension(self) -> &'static str {
        self.name()
    }
}

/// The parts of a WAV `fmt ` chunk that decide whether we can decode it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WavFmt {
    pub tag: u16,
    pub channels: u16,
    pub rate: u32,
    pub bits: u16,
}

/// How many bytes of header we read to find the `fmt ` chunk (it precedes `data`; odd chunks
/// such as `LIST`/`bext` before it are skipped).
const SNIFF_BYTES: usize = 1 << 16;

pub(crate) fn sniff(path: &Path) -> Result<(Container, Option<WavFmt>), AudioError> {
    let open = |source| AudioError::Open {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(open)?;
    let mut head = Vec::with_capacity(4096);
    file.take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(open)?;
    if head.is_empty() {
        return Err(AudioError::Empty {
            path: path.to_path_buf(),
        });
    }
    let not_audio = |reason: &str| AudioError::NotAudio {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WAVE" {
        let fmt = wav_fmt(&head).ok_or_else(|| not_audio("WAV without a readable `fmt ` chunk"))?;
        check_wav_fmt(path, &fmt)?;
        return Ok((Container::Wav, Some(fmt)));
    }
    if head.starts_with(b"RIFF") || head.starts_with(b"RIFX") || head.starts_with(b"RF64") {
        return Err(AudioError::Unsupported {
            path: path.to_path_buf(),
            what: "RIFF variant other than little-endian RIFF/WAVE".into(),
        });
    }
    if head.starts_with(b"fLaC") {
        return Ok((Container::Flac, None));
    }
    if head.starts_with(b"OggS") {
        return Ok((Container::Ogg, None));
    }
    // MP3: an ID3v2 tag, or an MPEG audio frame sync (11 set bits) with layer III.
    if head.starts_with(b"ID3")
        || (head.len() >= 2
            && head[0] == 0xFF
            && (head[1] & 0xE0) == 0xE0
            && (head[1] & 0x06) == 0x02)
    {
        return Ok((Container::Mp3, None));
    }
    let printable = head
        .iter()
        .take(512)
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    Err(not_audio(if printable {
        "looks like a text file"
    } else {
        "unrecognised header bytes"
    }))
}

/// Walk RIFF chunks from byte 12 to the `fmt ` chunk.
fn wav_fmt(head: &[u8]) -> Option<WavFmt> {
    let mut pos = 12usize;
    while pos + 8 <= head.len() {
        let id = &head[pos..pos + 4];
        let len = u32::from_le_bytes(head[pos + 4..pos + 8].try_into().ok()?) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            let b = head.get(body..body + 16)?;
            return Some(WavFmt {
                tag: u16::from_le_bytes([b[0], b[1]]),
                channels: u16::from_le_bytes([b[2], b[3]]),
                rate: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
                bits: u16::from_le_bytes([b[14], b[15]]),
            });
        }
        // Chunks are word-aligned: an odd length is followed by one pad byte.
        pos = body.checked_add(len)?.checked_add(len & 1)?;
    }
    None
}

fn check_wav_fmt(path: &Path, fmt: &WavFmt) -> Result<(), AudioError> {
    let tag_name = match fmt.tag {
        0x0001 | 0x0003 | 0x0006 | 0x0007 | 0xFFFE => None,
        0x0002 => Some("Microsoft ADPCM"),
        0x0011 => Some("IMA ADPCM"),
        0x0055 => Some("MPEG layer III inside WAV"),
        0x0050 => Some("MPEG inside WAV"),
        0x0031 => Some("GSM 6.10"),
        _ => Some("unknown codec"),
    };
    if let Some(name) = tag_name {
        return Err(AudioError::Unsupported {
            path: path.to_path_buf(),
            what: format!("WAV format tag 0x{:04X} ({name})", fmt.tag),
        });
    }
    if fmt.channels == 0 {
        return Err(AudioError::NoChannels {
            path: path.to_path_buf(),
        });
    }
    limits::check_channels(path, fmt.channels as usize)?;
    limits::check_rate(path, fmt.rate)?;
    Ok(())
}
