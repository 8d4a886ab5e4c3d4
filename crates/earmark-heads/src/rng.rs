//! The workspace's seeded RNG lives in `earmark-core`; re-exported here for the heads' users.

pub use earmark_core::rng::{fnv1a, seeded_shuffle, SplitMix64};
