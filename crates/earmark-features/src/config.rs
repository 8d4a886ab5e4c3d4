//! The user-facing entry: a feature kind, its options set by the reference's own keyword names,
//! and presets for the encoders' recipes.

use crate::kaldi::{fbank, mfcc, FbankOptions, MfccOptions, WindowType};
use crate::logmel::{log_mel, MelOptions};
use crate::FeatureError;
use earmark_core::Frames;
use serde_json::{Map, Value};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureKind {
    /// `torchaudio.transforms.MelSpectrogram` → `AmplitudeToDB`.
    LogMel,
    /// `torchaudio.compliance.kaldi.fbank`.
    Fbank,
    /// `torchaudio.compliance.kaldi.mfcc`.
    Mfcc,
}

impl FromStr for FeatureKind {
    type Err = FeatureError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "logmel" | "log-mel" | "melspectrogram" => Ok(FeatureKind::LogMel),
            "fbank" => Ok(FeatureKind::Fbank),
            "mfcc" => Ok(FeatureKind::Mfcc),
            _ => Err(FeatureError::BadValue {
                name: "kind".into(),
                value: s.into(),
                expected: "logmel, fbank or mfcc".into(),
            }),
        }
    }
}

impl std::fmt::Display for FeatureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FeatureKind::LogMel => "logmel",
            FeatureKind::Fbank => "fbank",
            FeatureKind::Mfcc => "mfcc",
        })
    }
}

/// Recipes: the raw feature call each encoder makes (not its padding or normalisation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// AST's `ASTFeatureExtractor` fbank: Hann window, 128 bins, no scaling.
    Ast,
    /// EAT's fbank: the same call as AST's (Hann, 128 bins, htk_compat, no scaling).
    Eat,
    /// BEATs' fbank: Povey window, 128 bins, waveform × 2¹⁵.
    Beats,
    /// `librosa.feature.melspectrogram` + `power_to_db` defaults (sr 22050 unless set).
    Librosa,
}

impl FromStr for Preset {
    type Err = FeatureError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ast" => Ok(Preset::Ast),
            "eat" => Ok(Preset::Eat),
            "beats" => Ok(Preset::Beats),
            "librosa" => Ok(Preset::Librosa),
            _ => Err(FeatureError::BadValue {
                name: "preset".into(),
                value: s.into(),
                expected: "ast, eat, beats or librosa".into(),
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum FeatureConfig {
    LogMel(MelOptions),
    Fbank(FbankOptions),
    Mfcc(MfccOptions),
}

/// `set` names per kind, sorted; a unit test keeps them equal to the structs' serde fields.
const FBANK_NAMES: [&str; 27] = [
    "blackman_coeff",
    "channel",
    "dither",
    "energy_floor",
    "frame_length",
    "frame_shift",
    "high_freq",
    "htk_compat",
    "input_scale",
    "low_freq",
    "min_duration",
    "num_mel_bins",
    "preemphasis_coefficient",
    "raw_energy",
    "remove_dc_offset",
    "round_to_power_of_two",
    "sample_frequency",
    "seed",
    "snip_edges",
    "subtract_mean",
    "use_energy",
    "use_log_fbank",
    "use_power",
    "vtln_high",
    "vtln_low",
    "vtln_warp",
    "window_type",
];
const MFCC_NAMES: [&str; 27] = [
    "blackman_coeff",
    "cepstral_lifter",
    "channel",
    "dither",
    "energy_floor",
    "frame_length",
    "frame_shift",
    "high_freq",
    "htk_compat",
    "input_scale",
    "low_freq",
    "min_duration",
    "num_ceps",
    "num_mel_bins",
    "preemphasis_coefficient",
    "raw_energy",
    "remove_dc_offset",
    "round_to_power_of_two",
    "sample_frequency",
    "seed",
    "snip_edges",
    "subtract_mean",
    "use_energy",
    "vtln_high",
    "vtln_low",
    "vtln_warp",
    "window_type",
];
const MEL_NAMES: [&str; 18] = [
    "center",
    "f_max",
    "f_min",
    "hop_length",
    "input_scale",
    "mel_scale",
    "n_fft",
    "n_mels",
    "norm",
    "normalized",
    "onesided",
    "pad",
    "pad_mode",
    "power",
    "sample_rate",
    "stype",
    "top_db",
    "win_length",
];

/// Option names that exist in the structs but not in the reference's signature.
const HIDDEN: [&str; 3] = ["flavor", "use_log_fbank_mfcc", "use_power_mfcc"];

impl FeatureConfig {
    pub fn new(kind: FeatureKind) -> Self {
        match kind {
            FeatureKind::LogMel => FeatureConfig::LogMel(MelOptions::default()),
            FeatureKind::Fbank => FeatureConfig::Fbank(FbankOptions::default()),
            FeatureKind::Mfcc => FeatureConfig::Mfcc(MfccOptions::default()),
        }
    }

    pub fn kind(&self) -> FeatureKind {
        match self {
            FeatureConfig::LogMel(_) => FeatureKind::LogMel,
            FeatureConfig::Fbank(_) => FeatureKind::Fbank,
            FeatureConfig::Mfcc(_) => FeatureKind::Mfcc,
        }
    }

    pub fn with_preset(kind: FeatureKind, preset: Preset) -> Result<Self, FeatureError> {
        let kaldi_128 = |window_type, htk_compat, input_scale| FbankOptions {
            num_mel_bins: 128,
            sample_frequency: 16000.0,
            frame_length: 25.0,
            frame_shift: 10.0,
            window_type,
            htk_compat,
            use_energy: false,
            input_scale,
            ..FbankOptions::default()
        };
        match (kind, preset) {
            (FeatureKind::Fbank, Preset::Ast | Preset::Eat) => {
                Ok(FeatureConfig::Fbank(kaldi_128(WindowType::Hanning, true, 1.0)))
            }
            (FeatureKind::Fbank, Preset::Beats) => {
                Ok(FeatureConfig::Fbank(kaldi_128(WindowType::Povey, false, 32768.0)))
            }
            (FeatureKind::LogMel, Preset::Librosa) => Ok(FeatureConfig::LogMel(MelOptions::librosa(22050))),
            (kind, preset) => Err(FeatureError::Unsupported {
                what: format!(
                    "preset {preset:?} with --kind {kind}: ast, eat and beats are Kaldi fbank recipes (--kind fbank), librosa is a log-mel one (--kind logmel)"
                ),
            }),
        }
    }

    fn to_map(&self) -> Map<String, Value> {
        let v = match self {
            FeatureConfig::LogMel(o) => serde_json::to_value(o),
            FeatureConfig::Fbank(o) => serde_json::to_value(o),
            FeatureConfig::Mfcc(o) => serde_json::to_value(o),
        };
        match v {
            Ok(Value::Object(mut m)) => {
                if let FeatureConfig::Mfcc(_) = self {
                    // kaldi.mfcc has no such keywords: it always uses log power.
                    m.remove("use_log_fbank");
                    m.remove("use_power");
                }
                m
            }
            _ => Map::new(),
        }
    }

    fn replace_from_map(&mut self, m: Map<String, Value>) -> Result<(), serde_json::Error> {
        let mut m = m;
        if let FeatureConfig::Mfcc(_) = self {
            m.insert("use_log_fbank".into(), Value::Bool(true));
            m.insert("use_power".into(), Value::Bool(true));
        }
        let v = Value::Object(m);
        *self = match self {
            FeatureConfig::LogMel(_) => FeatureConfig::LogMel(serde_json::from_value(v)?),
            FeatureConfig::Fbank(_) => FeatureConfig::Fbank(serde_json::from_value(v)?),
            FeatureConfig::Mfcc(_) => FeatureConfig::Mfcc(serde_json::from_value(v)?),
        };
        Ok(())
    }

    /// The names `set` accepts, sorted: the reference's keywords plus earmark's `input_scale`
    /// (and `seed` for the Kaldi kinds).
    pub fn option_names(&self) -> Vec<&'static str> {
        let names: &[&'static str] = match self {
            FeatureConfig::LogMel(_) => &MEL_NAMES,
            FeatureConfig::Fbank(_) => &FBANK_NAMES,
            FeatureConfig::Mfcc(_) => &MFCC_NAMES,
        };
        names.to_vec()
    }

    /// Set one option by its reference keyword name, from its text (`--opt NAME=VALUE`).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), FeatureError> {
        // torchaudio's `normalized` also takes "window" (= True) besides a bool.
        let value = match (name, value.trim()) {
            ("normalized", "window") => "true",
            _ => value,
        };
        let mut map = self.to_map();
        let current = match map.get(name) {
            Some(v) if !HIDDEN.contains(&name) => v.clone(),
            _ => {
                return Err(FeatureError::UnknownOption {
                    name: name.into(),
                    valid: self.option_names().join(", "),
                })
            }
        };
        let expected = expected_text(name, &current);
        let bad = || FeatureError::BadValue {
            name: name.into(),
            value: value.into(),
            expected: expected.clone(),
        };
        let parsed = parse_value(name, value, &current).ok_or_else(bad)?;
        map.insert(name.into(), parsed);
        let mut next = self.clone();
        next.replace_from_map(map).map_err(|_| bad())?;
        *self = next;
        Ok(())
    }

    /// The rate the input waveform must have.
    pub fn sample_rate(&self) -> u32 {
        match self {
            FeatureConfig::LogMel(o) => o.sample_rate,
            FeatureConfig::Fbank(o) => o.sample_frequency.round() as u32,
            FeatureConfig::Mfcc(o) => o.fbank.sample_frequency.round() as u32,
        }
    }

    /// Compute the features of a mono waveform at [`Self::sample_rate`].
    pub fn compute(&self, samples: &[f32]) -> Result<Frames, FeatureError> {
        match self {
            FeatureConfig::LogMel(o) => log_mel(samples, o),
            FeatureConfig::Fbank(o) => fbank(samples, o),
            FeatureConfig::Mfcc(o) => mfcc(samples, o),
        }
    }

    /// The resolved options, for writing beside outputs.
    pub fn describe(&self) -> Value {
        let mut m = self.to_map();
        m.insert("kind".into(), Value::String(self.kind().to_string()));
        Value::Object(m)
    }
}

fn expected_text(name: &str, current: &Value) -> String {
    match name {
        "window_type" => format!("one of {}", WindowType::NAMES),
        "pad_mode" => "one of reflect, constant, replicate, circular".into(),
        "mel_scale" => "htk or slaney".into(),
        "norm" => "none or slaney".into(),
        "stype" => "power or magnitude".into(),
        "normalized" => "true, false or window (frame_length is not supported)".into(),
        "win_length" | "hop_length" | "f_max" | "top_db" | "onesided" => "a number, or none".into(),
        _ => match current {
            Value::Bool(_) => "true or false".into(),
            Value::Number(n) if n.is_u64() => "a non-negative integer".into(),
            Value::Number(n) if n.is_i64() => "an integer".into(),
            Value::Number(_) => "a number".into(),
            _ => "a valid value".into(),
        },
    }
}

/// Options whose reference default is `None`.
const NULLABLE: [&str; 7] = [
    "win_length",
    "hop_length",
    "f_max",
    "norm",
    "top_db",
    "onesided",
    "stype",
];

/// Text → JSON value shaped like the option's current value (Python spellings accepted).
fn parse_value(name: &str, text: &str, current: &Value) -> Option<Value> {
    let t = text.trim();
    if NULLABLE.contains(&name) && matches!(t, "none" | "None" | "null") {
        return Some(Value::Null);
    }
    let as_bool = match t {
        "true" | "True" | "1" => Some(true),
        "false" | "False" | "0" => Some(false),
        _ => None,
    };
    let integer =
        current.is_u64() || current.is_i64() || matches!(name, "win_length" | "hop_length");
    let as_number = || -> Option<Value> {
        if let Ok(i) = t.parse::<i64>() {
            return Some(Value::from(i));
        }
        let f: f64 = t.parse().ok().filter(|f: &f64| f.is_finite())?;
        // 128.0 for an integer option is fine; 12.5 is not.
        if integer {
            return (f.fract() == 0.0).then(|| Value::from(f as i64));
        }
        Some(Value::from(f))
    };
    match (name, current) {
        ("onesided", _) | (_, Value::Bool(_)) => as_bool.map(Value::Bool),
        ("norm" | "stype", _) | (_, Value::String(_)) => Some(Value::String(t.to_string())),
        _ => as_number(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_by_reference_names() {
        let mut c = FeatureConfig::new(FeatureKind::Fbank);
        c.set("num_mel_bins", "40").unwrap();
        c.set("htk_compat", "True").unwrap();
        c.set("window_type", "hamming").unwrap();
        c.set("frame_shift", "12.5").unwrap();
        let FeatureConfig::Fbank(o) = &c else {
            panic!()
        };
        assert_eq!(
            (o.num_mel_bins, o.htk_compat, o.window_type, o.frame_shift),
            (40, true, WindowType::Hamming, 12.5)
        );
        let err = c.set("num_mel_binz", "40").unwrap_err().to_string();
        assert!(
            err.contains("num_mel_binz")
                && err.contains("num_mel_bins")
                && err.contains("snip_edges"),
            "{err}"
        );
        let err = c.set("window_type", "triangle").unwrap_err().to_string();
        assert!(err.contains("triangle") && err.contains("povey"), "{err}");
        assert!(c.set("num_mel_bins", "12.5").is_err());
        assert!(c.set("use_energy", "maybe").is_err());
    }

    #[test]
    fn nullable_logmel_options() {
        let mut c = FeatureConfig::new(FeatureKind::LogMel);
        c.set("win_length", "400").unwrap();
        c.set("f_max", "7600").unwrap();
        c.set("norm", "slaney").unwrap();
        c.set("top_db", "80").unwrap();
        c.set("mel_scale", "slaney").unwrap();
        let FeatureConfig::LogMel(o) = &c else {
            panic!()
        };
        assert_eq!(
            (o.win_length, o.f_max, o.norm.as_deref(), o.top_db),
            (Some(400), Some(7600.0), Some("slaney"), Some(80.0))
        );
        c.set("norm", "none").unwrap();
        c.set("top_db", "None").unwrap();
        let FeatureConfig::LogMel(o) = &c else {
            panic!()
        };
        assert_eq!((o.norm.as_deref(), o.top_db), (None, None));
        assert!(c.set("pad_mode", "mirror").is_err());
        c.set("normalized", "window").unwrap();
        let err = c.set("normalized", "frame_length").unwrap_err().to_string();
        assert!(
            err.contains("normalized") && err.contains("frame_length"),
            "{err}"
        );
        assert!(!c.option_names().contains(&"flavor"));
    }

    #[test]
    fn mfcc_hides_fbank_only_keywords() {
        let c = FeatureConfig::new(FeatureKind::Mfcc);
        let names = c.option_names();
        assert!(names.contains(&"num_ceps") && names.contains(&"cepstral_lifter"));
        assert!(!names.contains(&"use_log_fbank"));
        let mut c = c;
        assert!(c.set("use_power", "false").is_err());
    }

    #[test]
    fn option_name_lists_match_the_structs() {
        for kind in [FeatureKind::LogMel, FeatureKind::Fbank, FeatureKind::Mfcc] {
            let c = FeatureConfig::new(kind);
            let mut from_serde: Vec<String> = c
                .to_map()
                .keys()
                .filter(|k| !HIDDEN.contains(&k.as_str()))
                .cloned()
                .collect();
            from_serde.sort();
            assert_eq!(c.option_names(), from_serde, "{kind}");
        }
    }

    #[test]
    fn presets() {
        let FeatureConfig::Fbank(b) =
            FeatureConfig::with_preset(FeatureKind::Fbank, Preset::Beats).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (b.input_scale, b.window_type, b.num_mel_bins),
            (32768.0, WindowType::Povey, 128)
        );
        assert!(FeatureConfig::with_preset(FeatureKind::LogMel, Preset::Ast).is_err());
        assert!(FeatureConfig::with_preset(FeatureKind::Fbank, Preset::Librosa).is_err());
    }
}
