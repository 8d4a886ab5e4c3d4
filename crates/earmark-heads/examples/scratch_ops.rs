use candle_core::{DType, Device, Tensor, Var};
use std::time::Instant;
fn main() {
    let dev = Device::Cpu;
    let x = Tensor::randn(0f32, 1.0, (16000, 64), &dev).unwrap();
    let x3 = x.reshape((16, 1000, 64)).unwrap();
    let w = Tensor::randn(0f32, 1.0, (3, 64), &dev).unwrap();
    let wv = Var::from_tensor(&w).unwrap();
    let w64 = Tensor::randn(0f32, 1.0, (64, 64), &dev).unwrap();
    let g = Tensor::randn(0f32, 1.0, (16000, 3), &dev).unwrap();
    let m = Tensor::randn(0f32, 1.0, (1, 1, 64), &dev).unwrap();
    let n = 20;
    let time = |name: &str, f: &dyn Fn()| {
        f();
        let s = Instant::now();
        for _ in 0..n {
            f();
        }
        println!(
            "{name}: {:.3} ms",
            s.elapsed().as_secs_f64() * 1e3 / n as f64
        );
    };
    time("x@w.t (16000x64x3)", &|| {
        x.matmul(&w.t().unwrap()).unwrap();
    });
    time("x.t@g (64x16000x3)", &|| {
        x.t().unwrap().matmul(&g).unwrap();
    });
    time("g.t@x (3x16000x64)", &|| {
        g.t().unwrap().matmul(&x).unwrap();
    });
    time("x@w64 (16000x64x64)", &|| {
        x.matmul(&w64).unwrap();
    });
    time("broadcast_sub", &|| {
        x3.broadcast_sub(&m).unwrap();
    });
    time("mul same", &|| {
        (&x3 * &x3).unwrap();
    });
    time("gelu", &|| {
        x.gelu().unwrap();
    });
    time("gelu_erf", &|| {
        x.gelu_erf().unwrap();
    });
    time("relu", &|| {
        x.relu().unwrap();
    });
    time("var fwd+bwd linear", &|| {
        let y = x.matmul(&wv.as_tensor().t().unwrap()).unwrap();
        y.sum_all().unwrap().backward().unwrap();
    });
    time("gelu_erf fwd+bwd", &|| {
        let v = Var::from_tensor(&x).unwrap();
        v.as_tensor()
            .gelu_erf()
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
    });
    time("gelu fwd+bwd", &|| {
        let v = Var::from_tensor(&x).unwrap();
        v.as_tensor()
            .gelu()
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
    });
    time("relu fwd+bwd", &|| {
        let v = Var::from_tensor(&x).unwrap();
        v.as_tensor()
            .relu()
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
    });
    time("sum_all bwd", &|| {
        let v = Var::from_tensor(&x).unwrap();
        v.as_tensor().sum_all().unwrap().backward().unwrap();
    });
    time("affine bwd", &|| {
        let v = Var::from_tensor(&x).unwrap();
        v.as_tensor()
            .affine(2.0, 1.0)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
    });
    time("ge", &|| {
        x.ge(0.0).unwrap();
    });
    time("ge to f32", &|| {
        x.ge(0.0).unwrap().to_dtype(DType::F32).unwrap();
    });
    time("zeros_like", &|| {
        x.zeros_like().unwrap();
    });
    time("sum_all", &|| {
        x.sum_all().unwrap();
    });
    time("broadcast_as+add", &|| {
        let s = x.sum_all().unwrap();
        let b = s.broadcast_as(x.shape()).unwrap();
        (&x + b).unwrap();
    });
    time("var from tensor", &|| {
        Var::from_tensor(&x).unwrap();
    });
    let _ = DType::F32;
}
