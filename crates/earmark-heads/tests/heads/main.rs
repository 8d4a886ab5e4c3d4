//! Integration tests for earmark-heads, one binary: MIL heads and pooling (`mil`), classifiers
//! on pooled embeddings (`probe`, `gbt`) and calibration (`calibrate`).

mod gbt;
mod calibrate;
mod mil;
mod probe;
