//! KSG estimator speed: N = 10,000 and 100,000 samples of 2-D correlated Gaussians X and Y,
//! k = 20 (the setting of Table 1). Run with `cargo bench --bench ksg`.

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn correlated(n: usize, seed: u64) -> (Array2<f64>, Array2<f64>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::zeros((n, 2));
    let mut y = Array2::zeros((n, 2));
    for i in 0..n {
        for j in 0..2 {
            let a: f64 = StandardNormal.sample(&mut rng);
            let b: f64 = StandardNormal.sample(&mut rng);
            x[[i, j]] = a;
            y[[i, j]] = 0.8 * a + 0.6 * b;
        }
    }
    (x, y)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("ksg");
    group.sample_size(10);
    for n in [10_000, 100_000] {
        let (x, y) = correlated(n, 1);
        group.bench_function(format!("n{n}_d2x2_k20"), |b| b.iter(|| stib::mi::ksg(x.view(), y.view(), 20).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
