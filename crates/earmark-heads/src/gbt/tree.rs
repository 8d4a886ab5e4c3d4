//! A fitted regression tree as plain data (serialised into a detector's JSON) and its prediction.

use serde::{Deserialize, Serialize};

use crate::HeadError;

/// One node. Leaves have no `split`; their `value` (already multiplied by the learning rate) is
/// added to the raw score of every row that reaches them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreeNode {
    /// Training rows that reached this node.
    pub count: u32,
    /// The node's value `−G/(H+λ) × learning_rate` (a prediction only at leaves).
    #[serde(with = "exact_f64")]
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<NodeSplit>,
}

/// "Go left if `x[feature] <= threshold`".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeSplit {
    pub feature: usize,
    pub threshold: f32,
    pub left: usize,
    pub right: usize,
    /// Loss reduction of the split (scikit-learn's gain), for feature importances.
    #[serde(with = "exact_f64")]
    pub gain: f64,
}

/// A tree; node 0 is the root and children always come after their parent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<TreeNode>,
}

impl Tree {
    /// The value of the leaf that row `x` reaches.
    #[inline]
    pub fn predict_row(&self, x: &[f32]) -> f64 {
        let mut i = 0;
        loop {
            let node = &self.nodes[i];
            match &node.split {
                None => return node.value,
                Some(s) => {
                    i = if x[s.feature] <= s.threshold {
                        s.left
                    } else {
                        s.right
                    }
                }
            }
        }
    }

    /// The leaves, in node order.
    pub fn leaves(&self) -> impl Iterator<Item = &TreeNode> {
        self.nodes.iter().filter(|n| n.split.is_none())
    }

    /// Checks a loaded tree: non-empty, features below `dim`, children after their parent and in
    /// range (so prediction always ends), finite values and thresholds.
    pub fn check(&self, dim: usize) -> Result<(), HeadError> {
        if self.nodes.is_empty() {
            return Err(HeadError::data("a gradient-boosted tree has no nodes"));
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if !node.value.is_finite() {
                return Err(HeadError::data(format!(
                    "tree node {i} has value {}",
                    node.value
                )));
            }
            if let Some(s) = &node.split {
                let children_ok = s.left > i
                    && s.right > i
                    && s.left < self.nodes.len()
                    && s.right < self.nodes.len();
                if s.feature >= dim || !children_ok || s.threshold.is_nan() {
                    return Err(HeadError::data(format!(
                        "tree node {i}: split on feature {} (dim {dim}) to children {} and {} of {} nodes, threshold {}",
                        s.feature,
                        s.left,
                        s.right,
                        self.nodes.len(),
                        s.threshold
                    )));
                }
            }
        }
        Ok(())
    }
}

/// `f64` fields that survive a JSON round trip bit for bit: written as a JSON number when
/// `serde_json` reads that number back exactly (its default parser can be one ulp off for
/// 17-digit values), otherwise as a string in Rust's shortest exact form; both are read.
pub mod exact_f64 {
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        let exact = serde_json::to_string(v)
            .ok()
            .and_then(|t| serde_json::from_str::<f64>(&t).ok())
            .is_some_and(|back| back.to_bits() == v.to_bits());
        if exact {
            s.serialize_f64(*v)
        } else {
            s.serialize_str(&format!("{v:e}"))
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = f64;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, or a string holding one")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
                Ok(v)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}
