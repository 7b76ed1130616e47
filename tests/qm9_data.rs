//! QM9 loaders on the raw samples (with their traps) and the CSV layouts, and the SMILES
//! tokenizer on all 6,095 C7H10O2 molecules.

mod common;

use std::collections::HashMap;

use common::temp_file;
use stib::data::qm9::{HARTREE_EV, load, parse_xyz};
use stib::data::smiles::Vocabulary;

#[test]
fn raw_xyz_samples_parse_and_agree_with_the_csv() {
    let Some(dir) = common::data_dir("qm9_xyz") else { return };
    let raw = load(&dir.join("qm9_xyz_sample"), false).unwrap();
    assert_eq!(raw.molecules.len(), 20);
    let methane = &raw.molecules[0];
    assert_eq!((methane.index, methane.smiles.as_str()), (Some(1), "C"));
    assert!((methane.gap_ev - 0.5048 * HARTREE_EV).abs() < 1e-9);
    assert_eq!(methane.alpha_bohr3, 13.21);
    // 005005 holds a Mathematica exponent; 005003 is uncharacterised (absent from qm9.csv).
    assert!(raw.molecules.iter().any(|m| m.index == Some(5005)));
    let csv = load(&dir.join("qm9.csv"), false).unwrap();
    let by_index: HashMap<u64, _> = csv.molecules.iter().filter_map(|m| m.index.map(|i| (i, m))).collect();
    let mut matched = 0;
    for m in &raw.molecules {
        if let Some(c) = by_index.get(&m.index.unwrap()) {
            assert_eq!(c.smiles, m.smiles);
            assert!((c.gap_ev - m.gap_ev).abs() < 1e-8 && (c.alpha_bohr3 - m.alpha_bohr3).abs() < 1e-9);
            matched += 1;
        }
    }
    assert_eq!(matched, 19, "the 19 characterised samples are in qm9.csv with the same values");
}

#[test]
fn the_archive_reads_like_the_folder() {
    let Some(dir) = common::data_dir("qm9_archive") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("dsgdb9nsd.xyz.tar.bz2");
    {
        let file = std::fs::File::create(&archive).unwrap();
        let mut builder = tar::Builder::new(bzip2::write::BzEncoder::new(file, bzip2::Compression::fast()));
        builder.append_dir_all(".", dir.join("qm9_xyz_sample")).unwrap();
        builder.into_inner().unwrap().finish().unwrap();
    }
    let mut from_archive = load(&archive, false).unwrap().molecules;
    from_archive.sort_by_key(|m| m.index);
    assert_eq!(from_archive, load(&dir.join("qm9_xyz_sample"), false).unwrap().molecules);
}

#[test]
fn moleculenet_layout_is_converted_from_hartree() {
    let (_d, f) =
        temp_file("mnet.csv", "mol_id,smiles,A,alpha,gap\ngdb_1,C,157.7,13.21,0.5048\ngdb_2,N,293.6,9.46,0.3399\n");
    let m = load(&f, false).unwrap().molecules;
    assert_eq!(m.len(), 2);
    assert_eq!(m[1].index, Some(2));
    assert!((m[1].gap_ev - 0.3399 * HARTREE_EV).abs() < 1e-12);
}

#[test]
fn malformed_records_name_file_and_line_or_are_counted() {
    let good = "3\ngdb 7\t1\t2\t3\t0.1\t5.5\t-0.2\t0.1\t0.3\t1\t1\t1\t1\t1\t1\t1\t\nO\t0\t0\t0\t-0.4\nH\t0\t0\t1\t0.2\nH\t0\t1\t0\t0.2\n1 2 3\nO\tO\t\nInChI\tInChI\n";
    let m = parse_xyz(good, "w.xyz".as_ref()).unwrap();
    assert_eq!((m.smiles.as_str(), m.alpha_bohr3), ("O", 5.5));
    let bad = good.replace("5.5", "five");
    let e = parse_xyz(&bad, "w.xyz".as_ref()).unwrap_err().to_string();
    assert!(e.contains("w.xyz:2") && e.contains("alpha"), "{e}");
    let e = parse_xyz(&good.replace("H\t0\t0\t1", "H\t0\tx\t1"), "w.xyz".as_ref()).unwrap_err().to_string();
    assert!(e.contains("w.xyz:4"), "{e}");

    let (_d, f) = temp_file("bad.csv", "smiles,gap_ev,alpha_bohr3\nCCO,6.1,40\nCCN,abc,41\nCC,7,\n");
    let e = load(&f, false).unwrap_err().to_string();
    assert!(e.contains("bad.csv:3") && e.contains("gap_ev") && e.contains("abc"), "{e}");
    let loaded = load(&f, true).unwrap();
    assert_eq!((loaded.molecules.len(), loaded.skipped.len()), (1, 2));
}

#[test]
fn tokenizer_round_trips_every_c7h10o2_molecule() {
    let Some(dir) = common::data_dir("tokenizer") else { return };
    let mols = load(&dir.join("qm9_c7o2h10.csv"), false).unwrap().molecules;
    assert_eq!(mols.len(), 6095);
    let vocab = Vocabulary::build(mols.iter().map(|m| m.smiles.as_str()), 22).unwrap();
    // pad, start, end and the nine tokens C O 1 2 3 ( ) = #.
    assert_eq!(vocab.len(), 12, "{:?}", vocab.tokens);
    for m in &mols {
        let ids = vocab.encode(&m.smiles).unwrap();
        assert_eq!(ids.len(), 22);
        assert_eq!(vocab.decode(&ids), m.smiles);
        let hot = vocab.one_hot(&ids);
        assert_eq!(hot.iter().sum::<f32>(), 22.0);
    }
}

/// Runs `stib data qm9 --from FROM --out OUT [extra...]`.
fn data_qm9(from: &std::path::Path, out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["data", "qm9", "--from", from.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    common::stib(&args)
}

#[test]
fn data_command_selects_the_c7h10o2_isomers_from_the_whole_of_qm9() {
    let Some(dir) = common::data_dir("data_qm9") else { return };
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("sub/c7.csv");
    let qm9 = dir.join("qm9.csv");
    let run = data_qm9(&qm9, &out, &["--formula", "C7H10O2"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let ours = load(&out, false).unwrap().molecules;
    let reference = load(&dir.join("qm9_c7o2h10.csv"), false).unwrap().molecules;
    assert_eq!(ours.len(), 6095);
    assert_eq!(ours, reference);
}

#[test]
fn data_command_rejects_bad_sources_clearly() {
    let (_d, f) = temp_file("nosmiles.csv", "name,gap_ev,alpha_bohr3\nx,1,2\n");
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("o.csv");
    let run = data_qm9(&f, &out, &[]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(err.contains("nosmiles.csv:1") && err.contains("smiles"), "{err}");
    let (_d, f) = temp_file("badmol.csv", "smiles,gap_ev,alpha_bohr3\nCCO,6,40\nC1CC,7,41\n");
    let run = data_qm9(&f, &out, &["--formula", "C2H6O"]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(err.contains("C1CC"), "{err}");
    assert!(!out.exists(), "nothing is written when the input is bad");
    for (formula, says) in [("C2H6Q", "'Q' is not an element"), ("C3H8", "has the formula C3H8; nothing written")] {
        let run = data_qm9(&f, &out, &["--formula", formula, "--skip-bad"]);
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{formula}: {err}");
        assert!(!out.exists(), "{formula}: nothing is written");
    }
    let run = data_qm9(&f, &out, &["--formula", "C2H6O", "--skip-bad"]);
    assert!(run.status.success());
    assert_eq!(load(&out, false).unwrap().molecules.len(), 1);
    // A formula in another order finds the same molecules, and the summary names it in Hill order.
    let run = data_qm9(&f, &out, &["--formula", "CH3CH2OH", "--skip-bad"]);
    assert!(String::from_utf8_lossy(&run.stdout).contains("kept 1 with formula C2H6O"));
    assert_eq!(load(&out, false).unwrap().molecules.len(), 1);
}
