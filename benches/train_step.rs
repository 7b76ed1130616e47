//! One STIB training iteration (main step then adversary step, fresh batch), the reference
//! networks (2 x 256 softplus MLPs), at batch 60 and 512, with 1 and 2 threads, with the
//! fused kernels (the default) and with candle's plain ops (the reference they replace).
//! Run with `cargo bench --bench train_step`; iterations/s = 1 / time.

use candle_core::Device;
use criterion::{Criterion, criterion_group, criterion_main};
use stib::kernels::Kernels;
use stib::train::{Config, Trainer};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step");
    group.sample_size(20);
    for threads in [1, 2] {
        // candle and the fused kernels read the thread count for their matrix products from
        // this variable at each call.
        // SAFETY: criterion runs benchmarks on this one thread; nothing reads the environment
        // concurrently.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
        for batch in [60, 512] {
            for (kernels, label) in [(Kernels::Fused, "fused"), (Kernels::Plain, "plain")] {
                let mut config = Config::default();
                config.schedule.batch = batch;
                config.schedule.iterations = u64::MAX;
                config.model.kernels = kernels;
                let mut trainer = Trainer::new(config, Device::Cpu).expect("model builds");
                group.bench_function(format!("stib_batch{batch}_threads{threads}_{label}"), |b| {
                    b.iter(|| trainer.step().expect("step runs"))
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
