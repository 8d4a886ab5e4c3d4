//! BEATs (microsoft/unilm `beats/`), native in candle. Filled in by the BEATs work (issue 9).
