//! A fitted model as JSON with its large numeric arrays moved into a safetensors file: the
//! structure (trees, options, calibrators) stays readable, the weights stay binary and exact.
//!
//! Any JSON array of at least [`MIN_TENSOR_LEN`] numbers is replaced by `{"$tensor": "name"}` and
//! stored under that name — as F32 when every value is exactly an f32 (MLP weights), F64
//! otherwise (logistic coefficients) — so a save/load round trip reproduces every value.

use candle_core::{DType, Device, Tensor};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::Path;

/// Arrays shorter than this stay inline in the JSON.
pub const MIN_TENSOR_LEN: usize = 256;
const KEY: &str = "$tensor";

/// The values of an array of floats; `None` for anything else, integer arrays included (they
/// stay in the JSON, where their type survives).
fn numbers(a: &[Value]) -> Option<Vec<f64>> {
    if a.iter().all(|v| v.is_i64() || v.is_u64()) {
        return None;
    }
    a.iter().map(Value::as_f64).collect()
}

fn extract(
    v: &mut Value,
    path: &str,
    out: &mut HashMap<String, Tensor>,
) -> candle_core::Result<()> {
    match v {
        Value::Array(a) if a.len() >= MIN_TENSOR_LEN => {
            if let Some(nums) = numbers(a) {
                let exact_f32 = nums.iter().all(|&x| (x as f32) as f64 == x);
                let t = if exact_f32 {
                    let v: Vec<f32> = nums.iter().map(|&x| x as f32).collect();
                    Tensor::from_vec(v, nums.len(), &Device::Cpu)?
                } else {
                    Tensor::from_vec(nums, a.len(), &Device::Cpu)?
                };
                out.insert(path.to_string(), t);
                *v = Value::Object(Map::from_iter([(KEY.to_string(), Value::from(path))]));
            } else {
                for (i, x) in a.iter_mut().enumerate() {
                    extract(x, &format!("{path}.{i}"), out)?;
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                extract(x, &format!("{path}.{i}"), out)?;
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                extract(x, &p, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Splits `value` into the JSON to write and the tensors to store.
pub fn split(mut value: Value) -> candle_core::Result<(Value, HashMap<String, Tensor>)> {
    let mut tensors = HashMap::new();
    extract(&mut value, "", &mut tensors)?;
    Ok((value, tensors))
}

fn restore(v: &mut Value, tensors: &HashMap<String, Tensor>) -> Result<(), String> {
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key(KEY) => {
            let name = m[KEY].as_str().ok_or("tensor reference is not a string")?;
            let t = tensors
                .get(name)
                .ok_or_else(|| format!("tensor {name:?} is missing from the weights file"))?;
            let vals: Vec<f64> = match t.dtype() {
                DType::F64 => t.to_vec1::<f64>(),
                _ => t
                    .to_dtype(DType::F32)
                    .and_then(|t| t.to_vec1::<f32>())
                    .map(|v| v.into_iter().map(f64::from).collect()),
            }
            .map_err(|e| format!("tensor {name:?}: {e}"))?;
            *v = Value::Array(vals.into_iter().map(Value::from).collect());
        }
        Value::Array(a) => a.iter_mut().try_for_each(|x| restore(x, tensors))?,
        Value::Object(m) => m.values_mut().try_for_each(|x| restore(x, tensors))?,
        _ => {}
    }
    Ok(())
}

/// Writes `json_path` and, when there are large arrays, `weights_path` (both atomically).
pub fn save(value: Value, json_path: &Path, weights_path: &Path) -> Result<(), String> {
    let (json, tensors) = split(value).map_err(|e| e.to_string())?;
    if !tensors.is_empty() {
        let tmp = weights_path.with_extension("safetensors.tmp");
        candle_core::safetensors::save(&tensors, &tmp)
            .map_err(|e| format!("{}: {e}", weights_path.display()))?;
        #[cfg(unix)]
        {
            // Readable like the JSON beside it (the writer creates it owner-only).
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644));
        }
        std::fs::rename(&tmp, weights_path)
            .map_err(|e| format!("{}: {e}", weights_path.display()))?;
    }
    let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
    crate::atomic::write_atomic(json_path, text.as_bytes())
        .map_err(|e| format!("{}: {e}", json_path.display()))
}

/// Reads what [`save`] wrote.
pub fn load(json_path: &Path, weights_path: &Path) -> Result<Value, String> {
    let text =
        std::fs::read_to_string(json_path).map_err(|e| format!("{}: {e}", json_path.display()))?;
    let mut value: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json_path.display()))?;
    let tensors = if weights_path.exists() {
        candle_core::safetensors::load(weights_path, &Device::Cpu)
            .map_err(|e| format!("{}: {e}", weights_path.display()))?
    } else {
        HashMap::new()
    };
    restore(&mut value, &tensors).map_err(|e| format!("{}: {e}", weights_path.display()))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_exact() {
        let big32: Vec<f32> = (0..300).map(|i| (i as f32).sin() / 3.0).collect();
        let big64: Vec<f64> = (0..300).map(|i| (i as f64).cos() / 7.0).collect();
        let ints: Vec<usize> = (0..300).collect();
        let v = serde_json::json!({"a": {"w": big32, "small": [1.5, 2.0]}, "b": [{"c": big64}], "i": ints});
        let dir = tempfile::tempdir().unwrap();
        let (j, w) = (dir.path().join("m.json"), dir.path().join("m.safetensors"));
        save(v.clone(), &j, &w).unwrap();
        let text = std::fs::read_to_string(&j).unwrap();
        assert!(
            text.contains("\"$tensor\": \"a.w\"") && text.contains("b.0.c"),
            "{text}"
        );
        assert_eq!(load(&j, &w).unwrap(), v);
        std::fs::remove_file(&w).unwrap();
        assert!(load(&j, &w).unwrap_err().contains("missing"));
    }
}
