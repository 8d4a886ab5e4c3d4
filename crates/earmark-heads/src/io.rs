//! Saving and loading a frame head: `head.json` (the [`HeadConfig`]) + `head.safetensors`, both
//! written to a temporary file and renamed into place; loading checks the tensor names and shapes
//! against what the config needs.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use crate::head::{FrameHead, HeadConfig};
use crate::HeadError;

pub const CONFIG_FILE: &str = "head.json";
pub const WEIGHTS_FILE: &str = "head.safetensors";

/// Writes `dir/head.json` and `dir/head.safetensors` (creating `dir`). Only the variables the
/// config needs are written; a varmap missing one of them is an error.
pub fn save_head(dir: &Path, cfg: &HeadConfig, varmap: &VarMap) -> Result<(), HeadError> {
    cfg.validate()?;
    std::fs::create_dir_all(dir).map_err(|e| HeadError::io(dir, e))?;
    let weights_path = dir.join(WEIGHTS_FILE);
    let tensors: HashMap<String, Tensor> = {
        let data = varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        let mut out = HashMap::new();
        let mut missing = Vec::new();
        for (name, shape) in cfg.tensor_shapes() {
            match data.get(&name) {
                Some(v) if v.dims() == shape.as_slice() => {
                    out.insert(name, v.as_tensor().to_dtype(DType::F32)?);
                }
                Some(v) => {
                    return Err(HeadError::shape(
                        name,
                        format!("{shape:?}"),
                        format!("{:?}", v.dims()),
                    ))
                }
                None => missing.push(name),
            }
        }
        if !missing.is_empty() {
            return Err(HeadError::Checkpoint {
                path: weights_path,
                missing,
                unexpected: Vec::new(),
            });
        }
        out
    };
    let tmp = dir.join(format!(".{WEIGHTS_FILE}.tmp"));
    candle_core::safetensors::save(&tensors, &tmp).map_err(|e| HeadError::io(&tmp, e))?;
    std::fs::rename(&tmp, &weights_path).map_err(|e| HeadError::io(&weights_path, e))?;

    let cfg_path = dir.join(CONFIG_FILE);
    let json = serde_json::to_string_pretty(cfg).map_err(|e| HeadError::io(&cfg_path, e))?;
    let tmp = dir.join(format!(".{CONFIG_FILE}.tmp"));
    std::fs::write(&tmp, json).map_err(|e| HeadError::io(&tmp, e))?;
    std::fs::rename(&tmp, &cfg_path).map_err(|e| HeadError::io(&cfg_path, e))?;
    Ok(())
}

/// Reads a head written by [`save_head`]. The safetensors key set must equal the config's; the
/// error names the missing and unexpected tensors.
pub fn load_head(dir: &Path, device: &Device) -> Result<(FrameHead, VarMap), HeadError> {
    let cfg_path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&cfg_path).map_err(|e| HeadError::io(&cfg_path, e))?;
    let cfg: HeadConfig = serde_json::from_str(&text).map_err(|e| HeadError::io(&cfg_path, e))?;
    cfg.validate()?;

    let weights_path = dir.join(WEIGHTS_FILE);
    let tensors = candle_core::safetensors::load(&weights_path, device)
        .map_err(|e| HeadError::io(&weights_path, e))?;
    let want: BTreeSet<String> = cfg.tensor_shapes().into_iter().map(|(n, _)| n).collect();
    let have: BTreeSet<String> = tensors.keys().cloned().collect();
    if want != have {
        return Err(HeadError::Checkpoint {
            path: weights_path,
            missing: want.difference(&have).cloned().collect(),
            unexpected: have.difference(&want).cloned().collect(),
        });
    }
    for (name, shape) in cfg.tensor_shapes() {
        let got = tensors[&name].dims();
        if got != shape.as_slice() {
            return Err(HeadError::shape(
                format!("{} tensor {name}", weights_path.display()),
                format!("{shape:?}"),
                format!("{got:?}"),
            ));
        }
    }

    let varmap = VarMap::new();
    let head = FrameHead::new(cfg, VarBuilder::from_varmap(&varmap, DType::F32, device))?;
    {
        let data = varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        for (name, var) in data.iter() {
            var.set(&tensors[name].to_dtype(DType::F32)?)?;
        }
    }
    Ok((head, varmap))
}
