use candle_core::{DType, Device, Tensor};
use earmark_heads::*;
use std::time::Instant;
fn main() {
    let dev = Device::Cpu;
    let (b, t, d, c) = (16usize, 1000usize, 64usize, 3usize);
    let x = Tensor::randn(0f32, 1.0, (b, t, d), &dev).unwrap();
    let mask = Tensor::ones((b, t), DType::F32, &dev).unwrap();
    let y = Tensor::zeros((b, c), DType::F32, &dev).unwrap();
    let kind = std::env::args().nth(1).unwrap_or("linear".into());
    let pooling: Pooling = std::env::args()
        .nth(2)
        .unwrap_or("max".into())
        .parse()
        .unwrap();
    let kind = match kind.as_str() {
        "mlp" => HeadKind::Mlp { hidden: 64 },
        "conv" => HeadKind::Conv {
            hidden: 64,
            kernel: 5,
        },
        _ => HeadKind::Linear,
    };
    let std_on = std::env::var("NOSTD").is_err();
    let cfg = HeadConfig {
        kind,
        input_mean: std_on.then(|| vec![0.1; d]),
        input_std: std_on.then(|| vec![1.1; d]),
        ..HeadConfig::linear(d, c, pooling)
    };
    let (head, vm) = seeded_head(cfg, 0, &dev).unwrap();
    let n = 20;
    let time = |name: &str, f: &dyn Fn()| {
        f();
        let s = Instant::now();
        for _ in 0..n {
            f();
        }
        println!(
            "{name}: {:.2} ms",
            s.elapsed().as_secs_f64() * 1e3 / n as f64
        );
    };
    time("copy x", &|| {
        let v: Vec<f32> = vec![0.0; b * t * d];
        let _ = Tensor::from_vec(v, (b, t, d), &dev).unwrap();
    });
    time("forward", &|| {
        MilModel::forward(&head, &x, &mask, true).unwrap();
    });
    time("fwd+pool+loss", &|| {
        let o = MilModel::forward(&head, &x, &mask, true).unwrap();
        let q = clip_probs(&head, &o).unwrap();
        clip_bce(&q, &y, None).unwrap();
    });
    time("fwd+bwd", &|| {
        let o = MilModel::forward(&head, &x, &mask, true).unwrap();
        let q = clip_probs(&head, &o).unwrap();
        let l = clip_bce(&q, &y, None).unwrap();
        l.backward().unwrap();
    });
    let _ = vm;
}
