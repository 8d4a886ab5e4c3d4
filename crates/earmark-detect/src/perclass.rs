//! One setting for every class, or one per class.

use crate::error::DetectError;
use earmark_core::LabelSet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A value for every class, written in one of three ways (serde: untagged):
///
/// * `0.5` — the same value for all classes;
/// * `[0.5, 0.3]` — one per class, in [`LabelSet`] order;
/// * `{"cough": 0.5, "gag": 0.3}` — by label name; every class must be named and no other label,
///   so per-class thresholds written back from an evaluation cannot silently land on the wrong class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PerClass<T> {
    All(T),
    Each(Vec<T>),
    ByLabel(BTreeMap<String, T>),
}

impl<T> From<T> for PerClass<T> {
    fn from(v: T) -> Self {
        PerClass::All(v)
    }
}

impl<T: Clone> PerClass<T> {
    /// The value of each class, in `labels` order; `what` names the setting in errors.
    pub fn resolve(&self, labels: &LabelSet, what: &str) -> Result<Vec<T>, DetectError> {
        match self {
            PerClass::All(v) => Ok(vec![v.clone(); labels.len()]),
            PerClass::Each(vs) => {
                if vs.len() != labels.len() {
                    return Err(DetectError::Shape {
                        what: format!("{what} (one per class)"),
                        expected: labels.len(),
                        got: vs.len(),
                    });
                }
                Ok(vs.clone())
            }
            PerClass::ByLabel(map) => {
                if let Some(unknown) = map.keys().find(|k| !labels.contains(k)) {
                    return Err(DetectError::UnknownLabel {
                        what: what.into(),
                        label: unknown.clone(),
                    });
                }
                labels
                    .iter()
                    .map(|l| {
                        map.get(l)
                            .cloned()
                            .ok_or_else(|| DetectError::MissingLabel {
                                what: what.into(),
                                label: l.clone(),
                            })
                    })
                    .collect()
            }
        }
    }
}
