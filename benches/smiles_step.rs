//! One STIB training iteration of the QM9 experiment's SMILES model (convolutional encoder,
//! GRU decoder, predictor, adversary; main step then adversary step) on the C7O2H10 data, at
//! the default batch of 128, with 1 and 2 threads. Molecules/s = 128 / time.
//! Run with `cargo bench --bench smiles_step`; needs `$STIB_DATA_DIR/qm9_c7o2h10.csv`.

use candle_core::Device;
use criterion::{Criterion, criterion_group, criterion_main};
use stib::train::qm9_config::Qm9Config;
use stib::train::smiles_trainer::SmilesTrainer;

fn bench(c: &mut Criterion) {
    let config = Qm9Config::default();
    if !config.data.resolved_path().exists() {
        eprintln!("smiles_step: {} not found; set STIB_DATA_DIR", config.data.resolved_path().display());
        return;
    }
    let mut group = c.benchmark_group("smiles_step");
    group.sample_size(10);
    for threads in [1, 2] {
        // SAFETY: criterion runs benchmarks on this one thread; nothing reads the environment
        // concurrently (candle reads the variable at each matrix product).
        unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
        let mut config = Qm9Config::default();
        config.schedule.iterations = u64::MAX;
        let batch = config.schedule.batch;
        let mut trainer = SmilesTrainer::new(config, Device::Cpu).expect("model builds");
        group.bench_function(format!("stib_batch{batch}_threads{threads}"), |b| {
            b.iter(|| trainer.step().expect("step runs"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
