//! Training the artificial experiment end to end: the adversary removes y from Z0, a killed
//! run resumes exactly, and bad configurations and data files give clear errors.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use common::{stib, temp_file, write_spiral_csv};
use stib::data::spiral;
use stib::eval::evaluate;
use stib::generate::{self, Z0Sampling};
use stib::kernels::Kernels;
use stib::model::ModelKind;
use stib::train::config::{ScheduleConfig, Selection};
use stib::train::{Config, Trainer, load_run};

fn quick_config(kind: ModelKind, iterations: u64) -> Config {
    let mut c = Config::default();
    c.model.kind = kind;
    c.model.hidden = 64;
    c.schedule.iterations = iterations;
    c.schedule.batch = 60;
    c.schedule.learning_rate = 1e-3;
    c.schedule.learning_rate_final = 0.0;
    c.schedule.lambda_start = 20.0;
    c.schedule.lambda_every = 30;
    c.validation.every = iterations.min(500);
    c.validation.size = 500;
    c
}

/// MI_K(Z0; Y) of a short run, and a generation from x = (1, -2) with Z0 from the data's codes.
fn trained_mi_and_generation(kind: ModelKind) -> (f64, stib::generate::spiral::SpiralSummary) {
    let mut t = Trainer::new(quick_config(kind, 3000), Device::Cpu).unwrap();
    t.train(|_| {}).unwrap();
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(5);
    let test = spiral::sample(&mut rng, 3000);
    let mi = evaluate(&t.model, &test, &Device::Cpu, true).unwrap().mi_bits.unwrap();
    let g = generate::spiral::generate(&t.model, [1.0, -2.0], 2000, Z0Sampling::Data, 3, &Device::Cpu).unwrap();
    (mi, g.summary)
}

#[test]
fn the_adversary_removes_information_about_y_from_z0_and_z0_moves_x_along_the_symmetry() {
    let (with, stib_gen) = trained_mi_and_generation(ModelKind::Stib);
    let (without, plain_gen) = trained_mi_and_generation(ModelKind::StibNoAdversary);
    eprintln!("MI(Z0;Y): STIB {with:.3} bits, without adversary {without:.3} bits");
    assert!(with < 0.5 * without, "STIB {with} vs without adversary {without}");
    // Walking Z0 with Z1 fixed: x travels (the line 2 x0 + x1 = 0 spans x0 in [-2, 2]), and
    // the true symmetry coordinate t stays, far better than without the adversary.
    eprintln!("generated t: STIB {:?}\nwithout adversary {:?}", stib_gen.t, plain_gen.t);
    assert!(stib_gen.x0.sd > 0.5, "{:?}", stib_gen.x0);
    let (moved, drifted) = (stib_gen.mean_abs_t_shift, plain_gen.mean_abs_t_shift);
    assert!(moved < 0.3 * drifted, "mean |t - t_ref|: STIB {moved} vs without adversary {drifted}");
    assert!(stib_gen.t.sd < 0.5 * plain_gen.t.sd, "STIB {:?} vs {:?}", stib_gen.t, plain_gen.t);
}

/// A generation larger than one decoding chunk decodes every code as one pass over all of them
/// would, and the count is bounded.
#[test]
fn large_generations_decode_in_chunks_like_one_pass() {
    use stib::eval::metrics::{to_array, to_tensor};
    let t = Trainer::new(quick_config(ModelKind::Stib, 1), Device::Cpu).unwrap();
    let n = 20_000;
    let g = generate::spiral::generate(&t.model, [1.0, -2.0], n, Z0Sampling::Prior, 7, &Device::Cpu).unwrap();
    assert_eq!((g.codes.nrows(), g.x.nrows(), g.t.len()), (n, n, n));
    let whole = to_array(&t.model.decoder.forward(&to_tensor(&g.codes, &Device::Cpu).unwrap()).unwrap()).unwrap();
    let worst = (&g.x - &whole).iter().fold(0.0f64, |m, d| m.max(d.abs()));
    assert!(worst <= 1e-5, "chunked decoding differs from one pass by {worst}");
    assert_ne!(g.x.row(0), g.x.row(n - 1));
    let too_many = generate::MAX_SAMPLES + 1;
    let e = generate::spiral::generate(&t.model, [1.0, -2.0], too_many, Z0Sampling::Prior, 7, &Device::Cpu);
    assert!(e.unwrap_err().to_string().contains("--n must be between 1 and 1000000"));
}

/// The fused kernels train as candle's plain ops do: the same losses step by step, the same
/// weights and the same validation metrics after a short run (the reference networks, 2 x 256,
/// both the default and the reference's parameter split).
#[test]
fn fused_kernels_train_like_the_plain_ops() {
    for reference_split in [false, true] {
        let run = |kernels: Kernels| {
            let mut config = quick_config(ModelKind::Stib, 80);
            config.model.hidden = 256;
            config.model.reference_split = reference_split;
            config.model.kernels = kernels;
            let mut t = Trainer::new(config, Device::Cpu).unwrap();
            // A copy: the weights are updated in place.
            let initial: HashMap<String, Tensor> =
                t.weights().into_iter().map(|(k, v)| (k, v.copy().unwrap())).collect();
            let stats: Vec<_> = (0..80).map(|_| t.step().unwrap()).collect();
            (stats, t.validate().unwrap(), t.weights(), initial)
        };
        let (fused, fused_metrics, fused_weights, initial) = run(Kernels::Fused);
        let (plain, plain_metrics, plain_weights, _) = run(Kernels::Plain);
        let close = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol * (1.0 + b.abs());
        for (i, (f, p)) in fused.iter().zip(&plain).enumerate() {
            for (name, a, b) in [("main", f.main, p.main), ("rec_x", f.rec_x, p.rec_x), ("ir", f.ir, p.ir)] {
                assert!(close(a, b, 1e-2), "iteration {i}: {name} {a} (fused) vs {b} (plain)");
            }
        }
        let (f, p) = (fused.last().unwrap(), plain.last().unwrap());
        eprintln!("split {reference_split}: last main loss {} vs {}, ir {} vs {}", f.main, p.main, f.ir, p.ir);
        for (name, a, b) in [
            ("mae_x", fused_metrics.mae_x, plain_metrics.mae_x),
            ("mae_y", fused_metrics.mae_y.unwrap(), plain_metrics.mae_y.unwrap()),
        ] {
            assert!(close(a, b, 1e-2), "validation {name}: {a} (fused) vs {b} (plain)");
        }
        // Where training took each tensor must agree: the two paths' weights lie within 1% of
        // the distance either moved from the start (measured: at most 0.2%). Not so the
        // adversary's output bias: the MI term standardises the adversary's output, so a shift
        // of it changes nothing and its gradient is rounding noise, which Adam turns into
        // full steps of either sign; it wanders differently with every rounding (0.013
        // apart after moving 0.0025 on a CPU without AVX-512), and only there.
        let norm = |t: Tensor| t.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap().sqrt();
        for (name, w) in plain_weights.iter().filter(|(name, _)| name.as_str() != "adversary.2.bias") {
            let apart = norm((&fused_weights[name] - w).unwrap());
            let moved = norm((w - &initial[name]).unwrap());
            assert!(apart <= 0.01 * moved, "weight {name}: the paths end {apart} apart, training moved it {moved}");
        }
    }
}

/// The weights after 40 iterations of a short STIB run whose schedule `edit` changes.
fn short_stib_weights(edit: impl FnOnce(&mut ScheduleConfig)) -> HashMap<String, Tensor> {
    let mut config = quick_config(ModelKind::Stib, 40);
    edit(&mut config.schedule);
    let mut t = Trainer::new(config, Device::Cpu).unwrap();
    t.train(|_| {}).unwrap();
    t.weights()
}

/// The error of a short STIB run whose schedule `edit` changes (it must be refused).
fn short_stib_error(edit: impl FnOnce(&mut ScheduleConfig)) -> String {
    let mut config = quick_config(ModelKind::Stib, 40);
    edit(&mut config.schedule);
    Trainer::new(config, Device::Cpu).unwrap_err().to_string()
}

/// A list of network names, as a configuration holds them.
fn networks(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// `schedule.weight_decay` reaches the main step's optimiser: the same run with decay ends
/// with smaller encoder and decoder weights, and with `weight_decay_networks = ["decoder"]`
/// only the decoder's shrink.
#[test]
fn weight_decay_shrinks_the_chosen_networks() {
    let run = |weight_decay: f64, names: &[&str]| {
        let w = short_stib_weights(|s| {
            s.weight_decay = weight_decay;
            s.weight_decay_networks = networks(names);
        });
        let sum = |t: &Tensor| t.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        let norm = |part: &str| w.iter().filter(|(n, _)| n.starts_with(part)).map(|(_, t)| sum(t)).sum::<f32>();
        (norm("encoder."), norm("decoder."))
    };
    let (plain, all, decoder) = (run(0.0, &[]), run(20.0, &[]), run(20.0, &["decoder"]));
    eprintln!("squared norms (encoder, decoder): plain {plain:?}, all decay {all:?}, decoder decay {decoder:?}");
    assert!(all.0 < 0.9 * plain.0 && all.1 < 0.9 * plain.1);
    assert!(decoder.1 < 0.9 * plain.1 && decoder.0 > 0.95 * plain.0);
    let e = short_stib_error(|s| s.weight_decay_networks = networks(&["decoders"]));
    assert!(e.contains("weight_decay_networks") && e.contains("decoders"), "{e}");
}

/// `schedule.adam_beta1` with `adam_beta1_networks` reaches the main step's optimiser for the
/// named networks only: negative momentum in the encoder alone trains to other weights than
/// the default Adam and than negative momentum in the whole main step, and an unknown network
/// is refused by name.
#[test]
fn adam_beta1_reaches_the_chosen_networks() {
    let run = |beta1: f64, names: &[&str]| {
        let w = short_stib_weights(|s| {
            s.adam_beta1 = beta1;
            s.adam_beta1_networks = networks(names);
        });
        w["encoder.2.weight"].flatten_all().unwrap().to_vec1::<f32>().unwrap()
    };
    let (usual, encoder, all) = (run(0.9, &[]), run(-0.5, &["encoder"]), run(-0.5, &[]));
    assert_eq!(usual, run(0.9, &["encoder"]), "0.9 is the default for every network");
    assert_ne!(encoder, usual);
    assert_ne!(encoder, all);
    let e = short_stib_error(|s| s.adam_beta1_networks = networks(&["adversary"]));
    assert!(e.contains("adam_beta1_networks") && e.contains("adversary"), "{e}");
}

/// `schedule.clip_norm` reaches the main step: every step reports its gradient's norm over
/// lambda; a limit above every norm the run meets changes nothing, one below them all
/// changes the weights.
#[test]
fn gradient_clipping_scales_only_the_steps_above_the_limit() {
    let run = |clip_norm: f64| {
        let mut config = quick_config(ModelKind::Stib, 40);
        config.schedule.clip_norm = clip_norm;
        let mut t = Trainer::new(config, Device::Cpu).unwrap();
        let mut norms = Vec::new();
        t.train(|e| {
            if let stib::train::Event::Step { stats, .. } = e {
                norms.push(stats.grad_norm);
            }
        })
        .unwrap();
        (t.weights(), norms)
    };
    let (plain, norms) = run(0.0);
    assert_eq!(norms.len(), 40);
    assert!(norms.iter().all(|n| n.is_finite() && *n > 0.0), "{norms:?}");
    let (lowest, highest) = norms.iter().fold((f64::MAX, 0f64), |(lo, hi), n| (lo.min(*n), hi.max(*n)));
    let differs = |w: &HashMap<String, Tensor>| {
        w.iter().any(|(name, t)| {
            (t - &plain[name]).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap() > 0.0
        })
    };
    let (above, norms_above) = run(2.0 * highest);
    assert_eq!(norms_above, norms, "a limit above every norm must not change the run");
    assert!(!differs(&above));
    let (below, _) = run(0.5 * lowest);
    assert!(differs(&below), "a limit below every norm must change the weights");
}

#[test]
fn a_resumed_run_continues_as_if_never_stopped() {
    // The reference's adversary step, two adversary steps on fresh batches (more draws
    // from the saved RNG), and a moving average of the weights (saved beside them).
    for (fresh, ema) in [(false, 0.0), (true, 0.0), (false, 0.9)] {
        resumes_exactly(fresh, ema);
    }
}

fn resumes_exactly(fresh: bool, ema: f64) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("straight"), dir.path().join("resumed"));
    let mut config = quick_config(ModelKind::Stib, 40);
    config.validation.every = 20;
    config.validation.size = 100;
    config.loss.adversary_fresh_batches = fresh;
    config.loss.adversary_steps = if fresh { 2 } else { 1 };
    config.schedule.ema_decay = ema;
    if ema > 0.0 {
        config.validation.selection = Selection::Last;
    }
    let mut straight = Trainer::new(config.clone(), Device::Cpu).unwrap().with_run_dir(&a).unwrap();
    straight.train(|_| {}).unwrap();

    let mut first_half = config.clone();
    first_half.schedule.iterations = 20;
    let mut part = Trainer::new(first_half, Device::Cpu).unwrap().with_run_dir(&b).unwrap();
    part.train(|_| {}).unwrap();
    drop(part);
    let mut resumed = Trainer::resume(&b, Some(40), Device::Cpu).unwrap();
    assert_eq!(resumed.iteration, 20);
    resumed.train(|_| {}).unwrap();

    let (wa, wb) = (straight.weights(), resumed.weights());
    assert_eq!(wa.len(), wb.len());
    for (name, ta) in &wa {
        let diff = (ta - &wb[name]).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-5, "{name} differs by {diff}");
    }
    let max_diff = |a: &candle_core::Tensor, b: &candle_core::Tensor| {
        (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
    };
    let loaded = load_run(&b, "last", Device::Cpu).unwrap();
    if ema == 0.0 {
        // The last checkpoint round-trips: loading it gives the same weights.
        for (name, t) in loaded.weights() {
            assert_eq!(max_diff(&t, &wb[&name]), 0.0, "{name}");
        }
    } else {
        // Evaluation reads the average, which resumes exactly too, differs from the trained
        // weights, and is what the best checkpoint holds.
        let (average, straight_average) = (loaded.weights(), load_run(&a, "last", Device::Cpu).unwrap().weights());
        let best = load_run(&b, "best", Device::Cpu).unwrap().weights();
        assert!(max_diff(&average["decoder.2.weight"], &wb["decoder.2.weight"]) > 1e-4);
        for (name, t) in &average {
            assert!(max_diff(t, &straight_average[name]) < 1e-5, "{name}");
            assert_eq!(max_diff(t, &best[name]), 0.0, "{name}");
        }
    }
    assert!(b.join("best.json").exists());
    // One history line per validation, each timed from the start of its training command.
    let history = std::fs::read_to_string(b.join("history.jsonl")).unwrap();
    let seconds: Vec<f64> = history
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seconds"].as_f64().unwrap())
        .collect();
    assert!(!seconds.is_empty() && seconds.iter().all(|s| *s > 0.0), "{history}");
}

/// The weights of the networks named `prefix*` (encoder, adversary, ...), flattened in name order.
fn weights_of(w: &HashMap<String, Tensor>, prefix: &str) -> Vec<f32> {
    let mut names: Vec<_> = w.keys().filter(|n| n.starts_with(prefix)).collect();
    names.sort();
    assert!(!names.is_empty(), "no weight named {prefix}*");
    names.iter().flat_map(|n| w[*n].flatten_all().unwrap().to_vec1::<f32>().unwrap()).collect()
}

/// The refit starts from the best checkpoint, trains the decoder and predictor on the mean
/// code, and leaves the encoder, its noise, the adversary and the bijection as they were: the
/// test-set MI is the best checkpoint's to the bit (validation in the refit reuses it), while
/// the reconstruction from the mean code, blurred by the noise the decoder was trained on,
/// gets better.
#[test]
fn the_refit_fits_decoder_and_predictor_to_the_mean_code_and_leaves_z0_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (plain_dir, refit_dir) = (dir.path().join("plain"), dir.path().join("refit"));
    let mut config = quick_config(ModelKind::Stib, 600);
    config.validation.every = 100;
    let mut plain = Trainer::new(config.clone(), Device::Cpu).unwrap().with_run_dir(&plain_dir).unwrap();
    plain.train(|_| {}).unwrap();
    let (before, before_at) = plain.best().unwrap();

    config.refit.iterations = 300;
    let mut refit = Trainer::new(config, Device::Cpu).unwrap().with_run_dir(&refit_dir).unwrap();
    refit.train(|_| {}).unwrap();
    let (after, after_at) = refit.best().unwrap();
    eprintln!("best before the refit (iteration {before_at}): {before:?}\nafter (iteration {after_at}): {after:?}");
    assert!(after_at > 600, "no refit checkpoint beat the best one, {before_at}");
    assert_eq!(after.mi_bits, before.mi_bits);
    assert!(after.mae_x < 0.8 * before.mae_x, "MAE(X) {} before the refit, {} after", before.mae_x, after.mae_x);

    let started = load_run(&plain_dir, "best", Device::Cpu).unwrap().weights();
    let (end, best) = (refit.weights(), load_run(&refit_dir, "best", Device::Cpu).unwrap().weights());
    for fixed in ["encoder", "log_sigma", "adversary", "bijection"] {
        assert_eq!(weights_of(&end, fixed), weights_of(&started, fixed), "{fixed} moved in the refit");
        assert_eq!(weights_of(&best, fixed), weights_of(&started, fixed), "{fixed}");
    }
    for fitted in ["decoder", "predictor"] {
        assert_ne!(weights_of(&end, fitted), weights_of(&started, fitted), "{fitted} was not refitted");
    }
    // The schedule's best stays as the checkpoint `trained`, and the test-set report gives
    // both: the same MI, a better MAE(X) after the refit.
    let trained = load_run(&refit_dir, "trained", Device::Cpu).unwrap();
    assert_eq!(trained.iteration, before_at);
    for prefix in ["encoder", "decoder", "predictor"] {
        assert_eq!(weights_of(&trained.weights(), prefix), weights_of(&started, prefix), "{prefix}");
    }
    let out = stib(&["eval", "--run", refit_dir.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let before = &report["before_refit"];
    assert_eq!(before["iteration"].as_u64(), Some(before_at));
    assert_eq!(before["mi_bits"].as_f64(), report["mi_bits"].as_f64());
    assert!(report["mae_x"].as_f64().unwrap() < before["mae_x"].as_f64().unwrap(), "{report}");
}

/// A run killed at the end of its schedule (the refit not begun: it starts from the best
/// checkpoint on disk, not the last) or in the middle of its refit resumes as if never
/// stopped. The refit's rate is held constant so that a shorter refit stops on the same path.
#[test]
fn a_run_resumes_through_its_refit() {
    for stopped_in_refit in [0, 10] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("straight"), dir.path().join("resumed"));
        let mut config = quick_config(ModelKind::Stib, 40);
        config.validation.every = 10;
        config.validation.size = 100;
        config.refit.iterations = 20;
        config.refit.learning_rate_final = 0.0;
        // A fast rate, and the rule of both MAEs, keep the best checkpoint before the end of
        // the schedule, so that the refit's start from it is seen.
        config.schedule.learning_rate = 0.03;
        config.validation.selection = Selection::Both;
        let mut straight = Trainer::new(config.clone(), Device::Cpu).unwrap().with_run_dir(&a).unwrap();
        straight.train(|_| {}).unwrap();

        // What a killed run leaves: its checkpoints up to the stop, and its configuration.
        let mut shorter = config.clone();
        shorter.refit.iterations = stopped_in_refit;
        Trainer::new(shorter, Device::Cpu).unwrap().with_run_dir(&b).unwrap().train(|_| {}).unwrap();
        std::fs::write(b.join("config.toml"), config.to_toml()).unwrap();
        let mut resumed = Trainer::resume(&b, None, Device::Cpu).unwrap();
        assert_eq!(resumed.iteration, 40 + stopped_in_refit);
        if stopped_in_refit == 0 {
            assert!(load_run(&b, "best", Device::Cpu).unwrap().iteration < 40, "the best checkpoint is the last");
        }
        resumed.train(|_| {}).unwrap();

        let (wa, wb) = (straight.weights(), resumed.weights());
        for (name, ta) in &wa {
            let diff = (ta - &wb[name]).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff < 1e-5, "stopped {stopped_in_refit} into the refit: {name} differs by {diff}");
        }
        assert_eq!(straight.best().map(|b| b.1), resumed.best().map(|b| b.1));
    }
    // Once the refit has begun, the schedule it followed cannot grow.
    let dir = tempfile::tempdir().unwrap();
    let mut config = quick_config(ModelKind::Stib, 20);
    config.refit.iterations = 10;
    Trainer::new(config, Device::Cpu).unwrap().with_run_dir(dir.path()).unwrap().train(|_| {}).unwrap();
    let e = Trainer::resume(dir.path(), Some(40), Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("the refit of this run began after the 20 iterations of its schedule"), "{e}");
    assert_eq!(Trainer::resume(dir.path(), Some(20), Device::Cpu).unwrap().iteration, 30);
}

#[test]
fn bad_configurations_are_named_with_file_and_line() {
    let (_d, f) = temp_file("unknown.toml", "seed = 1\n[schedule]\nbatchsize = 8\n");
    let out = stib(&["train", "--config", f.to_str().unwrap(), "--out", "/tmp/never-written"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("unknown.toml:3") && err.contains("batchsize"), "{err}");

    let (_d, f) = temp_file("type.toml", "[model]\nhidden = \"wide\"\n");
    let out = stib(&["train", "--config", f.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("type.toml:2") && err.contains("invalid type"), "{err}");

    let out = stib(&["train", "--config", "/nonexistent/stib.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/stib.toml"));

    // A schedule of no iterations would leave no checkpoint to evaluate: refused up front, from
    // the file and from the command line alike.
    let (_d, f) = temp_file("none.toml", "[schedule]\niterations = 0\n");
    let out = stib(&["train", "--config", f.to_str().unwrap(), "--out", "/tmp/never-written"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("none.toml: invalid configuration: schedule.iterations must be at least 1"), "{err}");
    let (_d, f) = temp_file("qm9.toml", "experiment = \"qm9\"\n[schedule]\nbatch = 2\n");
    let out = stib(&["train", "--config", f.to_str().unwrap(), "--out", "/tmp/never-written"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("qm9.toml: invalid configuration: schedule.batch must be at least 3"), "{err}");
    let out = stib(&["train", "--iterations", "0", "--out", "/tmp/never-written"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--iterations"), "{err}");
    // QM9 runs have no refit, and a resumed run keeps the refit it was started with.
    let qm9 = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/qm9/stib.toml");
    for (args, says) in [
        (vec!["--config", qm9], "QM9 runs have no refit"),
        (vec!["--resume", "--iterations", "10"], "a resumed run keeps its own"),
    ] {
        let out = stib(&[&["train", "--refit-iterations", "5", "--out", "/tmp/never-written"], &args[..]].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{err}");
    }
    assert!(!std::path::Path::new("/tmp/never-written").exists());
}

/// `--resume` continues a run with its own configuration: a `--config` or `--seed` that says
/// otherwise is refused, naming what differs, before anything is trained; the run's own file
/// and seed are accepted.
#[test]
fn a_resumed_run_refuses_another_configuration_or_seed() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    let (_d, own) =
        temp_file("own.toml", "[model]\nhidden = 16\n[schedule]\nbatch = 20\n[validation]\nevery = 5\nsize = 100\n");
    let (_d, other) =
        temp_file("other.toml", "[model]\nhidden = 16\n[schedule]\nbatch = 30\n[validation]\nevery = 5\nsize = 100\n");
    let own = own.to_str().unwrap();
    let out = stib(&["train", "--config", own, "--out", r, "--iterations", "5"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let last = || std::fs::read_to_string(run.join("last.json")).unwrap();
    let before = last();
    for (extra, says) in [
        (vec!["--config", other.to_str().unwrap()], "(in: schedule)"),
        (vec!["--seed", "7"], "--seed differs"),
        (vec!["--config", own, "--seed", "7"], "(in: seed)"),
        (vec!["--config", concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/qm9/stib.toml")], "QM9 configuration"),
    ] {
        let out = stib(&[&["train", "--out", r, "--resume", "--iterations", "10"], &extra[..]].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(says) && err.contains("--resume continues"), "{extra:?} should say {says}: {err}");
        assert_eq!(last(), before, "{extra:?}: the run was not touched");
    }
    let out = stib(&["train", "--out", r, "--resume", "--iterations", "10", "--config", own, "--seed", "0"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_ne!(last(), before);
}

#[test]
fn bad_test_files_and_run_folders_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut t = Trainer::new(quick_config(ModelKind::Vae, 20), Device::Cpu).unwrap().with_run_dir(&run).unwrap();
    t.train(|_| {}).unwrap();
    let (_d, bad) = temp_file("test.csv", "a,b\n1,2\n");
    let out = stib(&["eval", "--run", run.to_str().unwrap(), "--test", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("test.csv:1") && err.contains("'x0'"), "{err}");

    let out = stib(&["eval", "--run", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a run folder"));

    // A QM9 data file given to a spiral run, or a spiral test set to a QM9 run, is refused
    // rather than ignored, before anything is trained or written.
    for args in [
        vec!["eval", "--run", run.to_str().unwrap(), "--data", "qm9.csv"],
        vec!["plot", "--run", run.to_str().unwrap(), "--data", "qm9.csv"],
        vec!["encode", "--run", run.to_str().unwrap(), "--data", "qm9.csv"],
        vec!["train", "--data", "qm9.csv", "--out", "/nonexistent/run"],
    ] {
        let out = stib(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("--data qm9.csv is for QM9 runs"), "{args:?}: {err}");
    }
    let qm9 = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/qm9/stib.toml");
    let out = stib(&["train", "--config", qm9, "--test", "spiral.csv", "--out", "/nonexistent/run"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--test spiral.csv is for spiral runs"), "{err}");
}

/// `--device` picks where the networks run; a GPU named in a build without the `cuda`
/// feature stops before anything is written, and a value that names no device is refused.
#[cfg(not(feature = "cuda"))]
#[test]
fn a_named_gpu_without_the_cuda_feature_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = stib(&["--device", "cuda:1", "train", "--iterations", "3", "--out", run.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--device cuda:1") && err.contains("--features cuda"), "{err}");
    assert!(!run.exists(), "nothing is written before the device is known");

    let out = stib(&["train", "--device", "tpu", "--iterations", "3", "--out", run.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("'tpu' is not a device") && !err.contains("panicked"), "{err}");
}

#[test]
fn figures_are_written_as_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Trainer::new(quick_config(ModelKind::Stib, 20), Device::Cpu).unwrap();
    t.train(|_| {}).unwrap();
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(9);
    let data = spiral::sample(&mut rng, 500);
    let files = stib::eval::figures::spiral_figures(&t.model, &data, &Device::Cpu, dir.path()).unwrap();
    assert_eq!(files.len(), 6, "latent, reconstruction and prediction, each PNG and SVG");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        match f.extension().and_then(|e| e.to_str()) {
            Some("png") => assert_eq!(&bytes[1..4], b"PNG", "{}", f.display()),
            _ => assert!(String::from_utf8_lossy(&bytes).contains("<svg"), "{}", f.display()),
        }
    }
    assert!(!dir.path().join("latent.tmp.png").exists());
}

#[test]
fn reproduce_writes_table_1_with_the_reference_split_row_and_guards_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let test = dir.path().join("test.csv");
    write_spiral_csv(&test, 400, 11);
    let (runs, out) = (dir.path().join("runs"), dir.path().join("results"));
    let reproduce_into = |configs: &str, runs: &Path, out: &Path, extra: &[&str]| {
        let (test, runs, out) = (test.to_str().unwrap(), runs.to_str().unwrap(), out.to_str().unwrap());
        let mut args = vec!["reproduce", "spiral", "--iterations", "20", "--refit-iterations", "20"];
        args.extend(["--configs", configs, "--test", test]);
        args.extend(["--runs", runs, "--out", out]);
        args.extend(extra);
        stib(&args)
    };
    let reproduce = |configs: &str| reproduce_into(configs, &runs, &out, &["--jobs", "3"]);
    let configs = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/spiral");
    let output = reproduce(configs);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // Three at a time (one thread each) gives the table of one after another on one thread.
    let (runs_one, out_one) = (dir.path().join("runs-one"), dir.path().join("results-one"));
    let output = reproduce_into(configs, &runs_one, &out_one, &["--threads", "1"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let read = |p: PathBuf| std::fs::read_to_string(p.join("table1.json")).unwrap();
    assert_eq!(read(out.clone()), read(out_one));
    let table = std::fs::read_to_string(out.join("table1.md")).unwrap();
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| model")).collect();
    let labels: Vec<&str> = rows.iter().map(|r| r.split('|').nth(1).unwrap().trim()).collect();
    assert_eq!(labels, ["VAE", "STIB w/o adv", "CVAE", "CVIB", "STIB", "STIB, reference split"], "{table}");
    // The variant is the STIB model with the reference split, next to STIB's paper numbers.
    let config = std::fs::read_to_string(runs.join("spiral-stib-reference-split/config.toml")).unwrap();
    assert!(config.contains("reference_split = true") && config.contains("kind = \"stib\""), "{config}");
    // STIB's refit is cut to 20 iterations too, and the baselines get none.
    let stib_config = Config::from_file(&runs.join("spiral-stib/config.toml")).unwrap();
    assert_eq!((stib_config.schedule.iterations, stib_config.refit.iterations), (20, 20));
    assert!(runs.join("spiral-stib/trained.json").exists());
    assert_eq!(Config::from_file(&runs.join("spiral-vae/config.toml")).unwrap().refit.iterations, 0);
    assert!(rows[5].contains("(0.04)") && rows[5].contains("(0.25)"), "{}", rows[5]);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("table1.json")).unwrap()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 6);

    // A changed configuration does not silently reuse (or resume) the run made with the old one.
    let changed = dir.path().join("changed");
    std::fs::create_dir(&changed).unwrap();
    for entry in std::fs::read_dir(configs).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, changed.join(path.file_name().unwrap())).unwrap();
    }
    let stib_toml = changed.join("stib.toml");
    let text = std::fs::read_to_string(&stib_toml).unwrap() + "\n[schedule]\nbatch = 256\n";
    std::fs::write(&stib_toml, text).unwrap();
    let output = reproduce(changed.to_str().unwrap());
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("spiral-stib was trained with another configuration") && err.contains("schedule"), "{err}");
}
