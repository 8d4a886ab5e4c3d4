//! EAT (cwx-worst-one/EAT, the Hugging Face remote code), native in candle. Filled in by the EAT work (issue 9).
