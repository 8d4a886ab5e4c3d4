//! Independent streams of the workspace RNG (`earmark_core::SplitMix64`) per clip and purpose,
//! so clip `i` is a pure function of (seed, i).

use earmark_core::SplitMix64;

pub(crate) struct Rng(SplitMix64);

impl Rng {
    /// The stream for (seed, clip index, purpose).
    pub(crate) fn new(seed: u64, index: u64, stream: u64) -> Self {
        let base = SplitMix64::new(seed ^ 0x5EED_5EED_0000_0000).next_u64();
        Rng(SplitMix64::new(
            base ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03),
        ))
    }

    pub(crate) fn uniform(&mut self) -> f64 {
        self.0.next_f64()
    }

    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        self.0.range(lo, hi)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0.below(n.max(1))
    }

    pub(crate) fn normal(&mut self) -> f64 {
        self.0.normal()
    }
}
