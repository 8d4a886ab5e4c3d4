//! earmark-audio (work in progress).
