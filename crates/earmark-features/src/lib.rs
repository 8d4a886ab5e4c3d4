//! earmark-features (work in progress).
