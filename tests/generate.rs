//! Generation (paper Experiment 5): fixing Z1 and sampling Z0 from a trained QM9 model gives
//! kept molecules that pass every filter they are counted under, the files and Figure 6, and
//! clear errors for bad references, counts and runs.

mod common;

use std::path::Path;

use candle_core::Device;
use common::{data_dir, small_qm9_config, stib};
use stib::chem;
use stib::eval::qm9_metrics::encode_molecules;
use stib::generate::Z0Sampling;
use stib::generate::molecules::{Context, GenerationOptions, generate};
use stib::model::ModelKind;
use stib::train::smiles_trainer::SmilesTrainer;

/// Two references from the data (the molecules nearest the paper's two reference points).
const REFERENCES: [&str; 2] = ["OCC1(CC=CC1)C=O", "CC1OC2CC3COC123"];

/// A small STIB model trained briefly into `dir`.
fn trained_run(data: &Path, dir: &Path) -> SmilesTrainer {
    let mut config = small_qm9_config(data, ModelKind::Stib, 600);
    config.loss.mi_on_mean = true;
    let mut t = SmilesTrainer::new(config, Device::Cpu).unwrap().with_run_dir(dir).unwrap();
    t.train(|_| {}).unwrap();
    t
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn generated_molecules_pass_their_filters_and_figure6_is_written() {
    let Some(data) = data_dir("generated_molecules_pass_their_filters_and_figure6_is_written") else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let t = trained_run(&data, &run);
    let context = Context::new(&t.model, &t.data).unwrap();
    let dev = Device::Cpu;

    // Z0 exactly at the reference's own: every sample is the model's greedy reconstruction.
    let exact = GenerationOptions { n: 20, sampling: Z0Sampling::Around { radius: 0.0 }, formula: None, seed: 0 };
    let g = generate(&t.model, &t.data, &context, REFERENCES[1], &exact, &dev).unwrap();
    let row = t.data.molecules.iter().position(|m| m.smiles == REFERENCES[1]).unwrap();
    let one = stib::data::molecule_set::MoleculeSet::new(&t.data.molecules, &[row], &t.data.preparation, &dev).unwrap();
    let rebuilt = encode_molecules(&t.model, &one, &t.data.preparation.standardiser, true).unwrap().decoded;
    let ids: Vec<usize> = rebuilt[0].iter().map(|&i| i as usize).collect();
    let rebuilt = t.data.preparation.vocabulary.decode(&ids);
    let c = g.summary.counts;
    eprintln!("reconstruction of {}: {rebuilt}; {c:?}", REFERENCES[1]);
    assert!(c.samples == 20 && c.unique <= 1 && (c.valid == 0 || c.valid == 20), "{c:?}");
    if chem::formula(&rebuilt).ok().as_deref() == Some("C7H10O2") {
        assert_eq!(g.molecules[0].smiles, chem::canonical(&rebuilt).unwrap());
        assert_eq!(g.molecules[0].count, 20);
    }
    assert_eq!(g.summary.reference.known, Some([t.data.molecules[row].gap_ev, t.data.molecules[row].alpha_bohr3]));

    // From the data's codes: counts shrink filter by filter and every kept molecule is what it
    // claims to be. A model this small writes few C7H10O2 molecules, so the filters are run on
    // the formula it writes most (the summary lists the most frequent ones).
    let options = GenerationOptions { n: 300, sampling: Z0Sampling::Data, formula: None, seed: 4 };
    let g = generate(&t.model, &t.data, &context, REFERENCES[0], &options, &dev).unwrap();
    let c = g.summary.counts;
    eprintln!("{c:?} {:?}", g.summary.formulas);
    assert!(c.valid > 0, "a trained decoder writes some valid SMILES: {c:?}");
    let (formula, most) = g.summary.formulas[0].clone();
    assert!(g.summary.formulas.iter().map(|f| f.1).sum::<usize>() <= c.valid && most > 0);
    let options = GenerationOptions { formula: Some(formula.clone()), ..options };
    let g = generate(&t.model, &t.data, &context, REFERENCES[0], &options, &dev).unwrap();
    let c = g.summary.counts;
    assert!(c.samples == 300 && c.valid <= 300 && c.formula_kept <= c.valid && c.unique <= c.formula_kept, "{c:?}");
    assert_eq!(c.formula_kept, most);
    assert!(c.unique > 0);
    assert_eq!(c.unique, g.molecules.len());
    assert_eq!(g.molecules.iter().map(|m| m.count).sum::<usize>(), c.formula_kept);
    let mut seen = std::collections::HashSet::new();
    for m in &g.molecules {
        assert_eq!(chem::formula(&m.smiles).unwrap(), formula);
        assert_eq!(chem::canonical(&m.smiles).unwrap(), m.smiles, "kept SMILES are canonical");
        assert!(seen.insert(m.smiles.clone()), "duplicate {}", m.smiles);
        assert_eq!(m.novel, m.found_in.as_deref() != Some("train"), "{m:?}");
        assert!(m.gap_ev.is_finite() && m.alpha_bohr3.is_finite() && m.latent_distance >= 0.0, "{m:?}");
    }
    assert_eq!(g.molecules.iter().filter(|m| m.found_in.is_none()).count(), c.outside_data);
    assert!(c.outside_data <= c.novel && c.novel <= c.unique);
    assert!(g.molecules.windows(2).all(|w| w[0].latent_distance <= w[1].latent_distance));
    // The same seed gives the same molecules.
    let again = generate(&t.model, &t.data, &context, REFERENCES[0], &options, &dev).unwrap();
    assert_eq!(again.molecules, g.molecules);

    // The command: CSV, summary and Figure 6 for two references.
    let out_dir = dir.path().join("gen");
    let (r, o) = (run.to_str().unwrap(), out_dir.to_str().unwrap());
    let args = ["generate", "--run", r, "--reference", REFERENCES[0], "--reference", REFERENCES[1]];
    let out = stib(&[&args[..], &["--n", "200", "--z0", "data", "--out", o]].concat());
    assert!(out.status.success(), "{}", text(&out));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary.as_array().unwrap().len(), 2);
    let unique: u64 = summary.as_array().unwrap().iter().map(|s| s["counts"]["unique"].as_u64().unwrap()).sum();
    let csv = std::fs::read_to_string(out_dir.join("molecules.csv")).unwrap();
    assert!(csv.starts_with("reference,smiles,novel,found_in,count,latent_distance,gap_ev,alpha_bohr3\n"));
    assert_eq!(csv.lines().count() as u64, 1 + unique);
    let svg = std::fs::read_to_string(out_dir.join("fig6_molecules.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("reference: "), "{}", &svg[..200.min(svg.len())]);
    assert_eq!(&std::fs::read(out_dir.join("fig6_properties.png")).unwrap()[1..4], b"PNG");
    assert!(std::fs::read_to_string(out_dir.join("fig6_properties.svg")).unwrap().contains("<svg"));

    // Bad input: clear errors, exit code 2.
    let bad = |extra: &[&str], says: &str| {
        let out = stib(&[&["generate", "--run", r], extra].concat());
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{extra:?} should say '{says}': {}", text(&out));
    };
    bad(&["--reference", "C1CC"], "invalid SMILES 'C1CC'");
    bad(&["--reference", "CCCl"], "token 'Cl' is not in the model's vocabulary");
    bad(&["--reference", "Cc1ccoc1"], "the model knows the tokens of its training SMILES");
    bad(&["--reference", REFERENCES[0], "--n", "0"], "--n must be between 1 and 1000000, not 0");
    bad(&["--reference", REFERENCES[0], "--formula", "C7H10Q2"], "formula 'C7H10Q2': 'Q' is not an element");
    bad(&["--x", "1,2"], "this is a QM9 run");
    bad(&[], "--reference SMILES");
    bad(&["--reference", REFERENCES[0], "--z0", "around"], "needs --radius");
}

#[test]
fn generation_needs_a_split_model_and_a_point() {
    let dir = tempfile::tempdir().unwrap();
    let vae = dir.path().join("vae");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/spiral/vae.toml");
    let out = stib(&["train", "--config", config, "--iterations", "5", "--out", vae.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = stib(&["generate", "--run", vae.to_str().unwrap(), "--x", "1.0,-2.0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("needs a STIB or STIB-without-adversary run; this run is a VAE"), "{}", text(&out));
    let out = stib(&["generate", "--run", vae.to_str().unwrap(), "--x", "1.0"]);
    assert!(text(&out).contains("X0,X1"), "{}", text(&out));
    let out = stib(&["generate", "--run", vae.to_str().unwrap(), "--reference", "CCO"]);
    assert!(text(&out).contains("this is a spiral run"), "{}", text(&out));
    let out = stib(&["generate", "--run", dir.path().to_str().unwrap(), "--x", "1,2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("not a run folder"), "{}", text(&out));

    // A STIB run generates: one row per sample, each with t = 2 x0 + x1.
    let run = dir.path().join("stib");
    let out = stib(&["train", "--iterations", "5", "--refit-iterations", "5", "--out", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = stib(&["generate", "--run", run.to_str().unwrap(), "--x", "-1.5,2", "--n", "50", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["reference_t"].as_f64(), Some(-1.0));
    let points = std::fs::read_to_string(run.join("generated/points.csv")).unwrap();
    assert_eq!(points.lines().count(), 51);
    for line in points.lines().skip(1) {
        let v: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        assert!((2.0 * v[0] + v[1] - v[2]).abs() < 1e-9, "{line}");
    }
    assert!(run.join("generated/generated_x.png").exists());
}
