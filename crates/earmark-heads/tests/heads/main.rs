//! Integration tests for earmark-heads, one binary: MIL heads and pooling (`mil`), classifiers
//! on pooled embeddings (`probe`, `gbt`) and calibration (`calibrate`).

mod calibrate;
mod gbt;
mod mil;
mod probe;
