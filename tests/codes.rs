//! A run's codes, written by `stib encode`, give back its Table 1 MI through `stib mi`, and
//! `stib eval` reports the probe beside it.

mod common;

use candle_core::Device;
use common::{data_dir, small_qm9_config, stib, write_spiral_csv};
use stib::model::ModelKind;
use stib::train::smiles_trainer::SmilesTrainer;

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn header(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().next().unwrap().split(',').map(String::from).collect()
}

#[test]
fn spiral_codes_give_back_the_table_1_mi() {
    let dir = tempfile::tempdir().unwrap();
    let test = dir.path().join("test.csv");
    write_spiral_csv(&test, 300, 5);
    let (run, test) = (dir.path().join("run"), test.to_str().unwrap());
    let run_s = run.to_str().unwrap();
    let out = stib(&["train", "--iterations", "30", "--refit-iterations", "10", "--out", run_s, "--test", test]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let eval = json(&stib(&["eval", "--run", run_s, "--test", test, "--json"]));
    let out = stib(&["encode", "--run", run_s, "--test", test]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let codes = run.join("codes.csv");
    assert_eq!(header(&codes), ["x0", "x1", "y0", "y1", "t", "y0_pred", "y1_pred", "z0_0", "z0_1", "z1_0"]);
    assert_eq!(std::fs::read_to_string(&codes).unwrap().lines().count(), 301);
    let mi = json(&stib(&["mi", codes.to_str().unwrap(), "--x", "z0_*", "--y", "y0,y1", "--json"]));
    assert_eq!(mi["mi"].as_f64().unwrap(), eval["mi_bits"].as_f64().unwrap());
}

#[test]
fn qm9_codes_hold_every_molecule_and_the_probe_is_reported() {
    let Some(data) = data_dir("qm9_codes_hold_every_molecule_and_the_probe_is_reported") else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut config = small_qm9_config(&data, ModelKind::Stib, 12);
    config.loss.adversary_fresh_batches = true;
    let mut t = SmilesTrainer::new(config, Device::Cpu).unwrap().with_run_dir(&run).unwrap();
    t.train(|_| {}).unwrap();
    let run_s = run.to_str().unwrap();
    let eval = json(&stib(&["eval", "--run", run_s, "--json"]));
    let probe = eval["probe_bits"].as_f64().unwrap();
    assert!(probe.is_finite() && probe >= 0.0, "{eval}");
    let codes = dir.path().join("codes.csv");
    let out = stib(&["encode", "--run", run_s, "--out", codes.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let h = header(&codes);
    assert_eq!(
        h[..9],
        [
            "smiles",
            "split",
            "reconstruction",
            "exact",
            "valid",
            "gap_ev",
            "alpha_bohr3",
            "gap_ev_pred",
            "alpha_bohr3_pred"
        ]
    );
    assert_eq!(h.iter().filter(|c| c.starts_with("z0_")).count(), 6);
    assert_eq!(h.iter().filter(|c| c.starts_with("z1_")).count(), 4);
    let text = std::fs::read_to_string(&codes).unwrap();
    let splits: Vec<&str> = text.lines().skip(1).map(|l| l.split(',').nth(1).unwrap()).collect();
    let count = |s: &str| splits.iter().filter(|&&p| p == s).count();
    assert_eq!((splits.len(), count("train"), count("validation"), count("test")), (6095, 4875, 610, 610));
    // The exact column is the accuracy's count, and says whether the reconstruction is the
    // molecule's SMILES.
    let rows: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let exact_test = rows.iter().filter(|r| r[1] == "test" && r[3] == "1").count();
    assert_eq!(exact_test as f64 / 610.0, eval["accuracy"].as_f64().unwrap());
    assert!(rows.iter().all(|r| (r[3] == "1") == (r[2] == r[0])));
    // Validity is the chemistry's: every data SMILES is valid, so every exact one is.
    assert!(rows.iter().all(|r| r[3] == "0" || r[4] == "1"));
    let valid = rows.iter().filter(|r| r[4] == "1").count();
    assert_eq!(valid, rows.iter().filter(|r| stib::chem::is_valid(r[2])).count());
    assert!(rows.iter().any(|r| !r[2].is_empty()), "nothing was decoded");
    let mi = json(&stib(&["mi", codes.to_str().unwrap(), "--x", "z0_*", "--y", "gap_ev,alpha_bohr3", "--json"]));
    assert_eq!(mi["mi"].as_f64().unwrap(), eval["mi_bits"].as_f64().unwrap());
}
