//! The facade end to end: one test binary, a module per concern.

mod crnn;
mod eat_beats;
mod embed;
mod scan;
mod workflow;
