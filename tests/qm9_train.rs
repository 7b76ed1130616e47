//! The QM9 experiment's SMILES models: a short training run learns to reconstruct, a killed
//! run resumes exactly, and bad configurations and data give clear errors.

mod common;

use candle_core::Device;
use common::{data_dir, small_qm9_config as small_config, stib, temp_file};
use stib::model::ModelKind;
use stib::train::smiles_trainer::SmilesTrainer;

#[test]
fn a_short_stib_run_learns_to_reconstruct_and_predict() {
    let Some(data) = data_dir("a_short_stib_run_learns_to_reconstruct_and_predict") else { return };
    let mut t = SmilesTrainer::new(small_config(&data, ModelKind::Stib, 300), Device::Cpu).unwrap();
    let before = t.validate().unwrap();
    t.train(|_| {}).unwrap();
    let after = t.validate().unwrap();
    eprintln!("before {before:?}\nafter {after:?}");
    assert!(before.token_accuracy < 0.2, "{before:?}");
    assert!(after.token_accuracy > (3.0 * before.token_accuracy).max(0.3), "{before:?} -> {after:?}");
    let (gap0, gap1) = (before.mae_gap.unwrap(), after.mae_gap.unwrap());
    assert!(gap1 < 0.9 * gap0, "gap MAE {gap0} -> {gap1}");
}

#[test]
fn a_resumed_run_continues_exactly() {
    let Some(data) = data_dir("a_resumed_run_continues_exactly") else { return };
    // Without and with a moving average of the weights (which evaluation then reads).
    for ema in [0.0, 0.9] {
        resumes_exactly(&data, ema);
    }
}

fn resumes_exactly(data: &std::path::Path, ema: f64) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let mut config = small_config(data, ModelKind::Stib, 12);
    config.validation.every = 6;
    config.schedule.ema_decay = ema;
    let mut straight = SmilesTrainer::new(config.clone(), Device::Cpu).unwrap().with_run_dir(&a).unwrap();
    straight.train(|_| {}).unwrap();
    // The same run killed after its checkpoint at iteration 6.
    let mut first = SmilesTrainer::new(config, Device::Cpu).unwrap().with_run_dir(&b).unwrap();
    for _ in 0..6 {
        first.step().unwrap();
    }
    first.checkpoint(true, first.validate().unwrap()).unwrap();
    first.step().unwrap();
    drop(first);
    let mut resumed = SmilesTrainer::resume(&b, None, Device::Cpu).unwrap();
    assert_eq!(resumed.iteration(), 6);
    resumed.train(|_| {}).unwrap();
    let one = |t: &SmilesTrainer| t.validate().unwrap();
    let x = SmilesTrainer::load(&a, "last", None, Device::Cpu).unwrap();
    if ema == 0.0 {
        assert_eq!(one(&x), one(&resumed));
    } else {
        // The average resumed exactly, and is not the trained weights.
        assert_eq!(one(&x), one(&SmilesTrainer::load(&b, "last", None, Device::Cpu).unwrap()));
        assert_ne!(one(&x), one(&resumed));
    }
    let y = resumed;
    // The split and vocabulary were saved with the run and reused.
    let prep: stib::data::molecule_set::Preparation =
        serde_json::from_str(&std::fs::read_to_string(b.join("data.json")).unwrap()).unwrap();
    assert_eq!(prep, y.data.preparation);
    assert_eq!(prep.split.test.len(), 610);
}

#[test]
fn bad_qm9_configs_and_data_are_named() {
    let Some(data) = data_dir("bad_qm9_configs_and_data_are_named") else { return };
    let (_d, cfg) = temp_file("bad.toml", "experiment = \"qm9\"\n[architecture]\ngru_width = 3\n");
    let out = stib(&["train", "--config", cfg.to_str().unwrap(), "--out", "/nonexistent/x"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.toml:3") && err.contains("gru_width"), "{err}");

    let csv = "qm9_index,smiles,gap_ev,alpha_bohr3\n".to_string()
        + &std::fs::read_to_string(data.join("qm9_c7o2h10.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .take(30)
            .collect::<Vec<_>>()
            .join("\n")
        + "\n99,C[C@@H,6.0,70.0\n";
    let (_d2, bad) = temp_file("bad.csv", &csv);
    let (_d3, cfg) = temp_file("ok.toml", "experiment = \"qm9\"\n");
    let out =
        stib(&["train", "--config", cfg.to_str().unwrap(), "--data", bad.to_str().unwrap(), "--out", "/nonexistent/x"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.csv:32") && err.contains("C[C@@H"), "{err}");
}

/// A data set of 40 molecules trains end to end: the main and adversary batches larger than
/// its 32 training molecules are named in warnings, and the probe, which needs 20 test
/// molecules, is left empty with a note instead of failing the run after training.
#[test]
fn a_tiny_data_set_trains_and_reports_what_it_cannot_measure() {
    let Some(data) = data_dir("a_tiny_data_set_trains_and_reports_what_it_cannot_measure") else { return };
    let csv: Vec<String> =
        std::fs::read_to_string(data.join("qm9_c7o2h10.csv")).unwrap().lines().take(41).map(String::from).collect();
    let (dir, file) = temp_file("tiny.csv", &(csv.join("\n") + "\n"));
    let config = "experiment = \"qm9\"\n[architecture]\nconv_channels = [16]\ndense = 32\ngru_hidden = 32\n\
                  mlp_hidden = 16\n[schedule]\niterations = 2\nbatch = 64\n[loss]\nadversary_batch = 512\n";
    let cfg = dir.path().join("tiny.toml");
    std::fs::write(&cfg, config).unwrap();
    let run = dir.path().join("run");
    let out = stib(&[
        "--threads",
        "1",
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--data",
        file.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("tiny.toml: schedule.batch is 64, more than the 32 training molecules"), "{err}");
    assert!(err.contains("tiny.toml: loss.adversary_batch is 512, more than the 32 training molecules"), "{err}");
    assert!(
        err.contains("the probe needs at least 20 training and 20 test molecules, and the split has 32 and 4"),
        "{err}"
    );
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    assert!(metrics["probe_bits"].is_null(), "{metrics}");
    assert!(metrics["mi_bits"].as_f64().is_some_and(f64::is_finite), "{metrics}");
    assert_eq!(metrics["test_molecules"], 4);
}

/// Auxiliary molecules: the rest of QM9 written with the data's tokens, none of the data's
/// molecules among them, reconstructed in each main step, their gap predicted too
/// (`predict`); a run with them resumes exactly.
#[test]
fn auxiliary_molecules_come_from_outside_the_data_and_train() {
    let Some(data) = data_dir("auxiliary_molecules_come_from_outside_the_data_and_train") else { return };
    let mut config = small_config(&data, ModelKind::Stib, 60);
    config.auxiliary.path = Some(data.join("qm9.csv"));
    config.auxiliary.batch = 32;
    config.auxiliary.predict = vec!["gap".into()];
    config.validation.every = 30;
    // Fast learning, so that 60 steps show it.
    (config.schedule.learning_rate, config.schedule.learning_rate_final) = (3e-3, 3e-3);
    let dir = tempfile::tempdir().unwrap();
    // A missing auxiliary file is an error that names it.
    let missing = dir.path().join("no-such-qm9.csv");
    let mut bad = config.clone();
    bad.auxiliary.path = Some(missing.clone());
    let e = SmilesTrainer::new(bad, Device::Cpu).unwrap_err().to_string();
    assert!(e.contains(&missing.display().to_string()), "{e}");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let mut straight = SmilesTrainer::new(config.clone(), Device::Cpu).unwrap().with_run_dir(&a).unwrap();
    let aux = straight.auxiliary.as_ref().unwrap();
    // All QM9 has 130,831 molecules, 6,095 of them the data's; those that remain and use
    // only the training split's tokens number some 43,000 (C, O, bonds and rings).
    assert!((40_000..50_000).contains(&aux.len()), "{} auxiliary molecules", aux.len());
    let in_data: std::collections::HashSet<&str> = straight.data.molecules.iter().map(|m| m.smiles.as_str()).collect();
    assert!(aux.smiles.iter().all(|s| !in_data.contains(s.as_str())));
    // Their targets are standardised with the training split's statistics: QM9's other
    // molecules have a somewhat larger gap than the isomers (7.4 against 7.1 eV) and an alpha
    // spread four times as wide (molecules with fewer atoms or more hydrogens).
    let y = aux.y_std.to_dtype(candle_core::DType::F64).unwrap().to_vec2::<f64>().unwrap();
    let column = |j: usize| y.iter().map(|r| r[j]).collect::<Vec<f64>>();
    let mean = |r: &[f64]| r.iter().sum::<f64>() / r.len() as f64;
    let rms = |r: &[f64]| (r.iter().map(|v| v * v).sum::<f64>() / r.len() as f64).sqrt();
    assert!((0.1..0.4).contains(&mean(&column(0))), "standardised gap mean {}", mean(&column(0)));
    assert!(rms(&column(1)) > 2.5, "standardised alpha rms {}", rms(&column(1)));
    let (mut rec, mut mse) = (Vec::new(), Vec::new());
    straight
        .train(|e| {
            if let stib::train::Event::Step { stats, .. } = e {
                rec.push(stats.rec_aux);
                mse.push(stats.mse_aux);
            }
        })
        .unwrap();
    assert!(rec.iter().all(|r| r.is_finite() && *r > 0.0), "{rec:?}");
    assert!(mean(&rec[55..]) < 0.8 * mean(&rec[..5]), "auxiliary cross-entropy {rec:?}");
    // Their gap's squared error is recorded at every step (60 steps teach it little: about
    // 1.5 to 1.3, against 1.4 for a constant guess).
    assert!(mse.iter().all(|m| m.is_finite() && *m > 0.0 && *m < 5.0), "{mse:?}");
    // Killed after its checkpoint at iteration 30, resumed: the auxiliary batches continue.
    let mut first = SmilesTrainer::new(config, Device::Cpu).unwrap().with_run_dir(&b).unwrap();
    for _ in 0..30 {
        first.step().unwrap();
    }
    first.checkpoint(true, first.validate().unwrap()).unwrap();
    drop(first);
    let mut resumed = SmilesTrainer::resume(&b, None, Device::Cpu).unwrap();
    assert!(resumed.auxiliary.is_some());
    resumed.train(|_| {}).unwrap();
    let x = SmilesTrainer::load(&a, "last", None, Device::Cpu).unwrap();
    assert!(x.auxiliary.is_none(), "evaluation does not read the auxiliary molecules");
    assert_eq!(x.validate().unwrap(), SmilesTrainer::load(&b, "last", None, Device::Cpu).unwrap().validate().unwrap());
}
