//! earmark-encoders (work in progress).
