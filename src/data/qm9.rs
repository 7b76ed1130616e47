//! QM9 molecules with their HOMO-LUMO gap (eV) and isotropic polarisability alpha (bohr^3),
//! read from any of the layouts QM9 circulates in:
//!
//! - the shared CSV (`qm9_index,smiles,gap_ev,alpha_bohr3`),
//! - the MoleculeNet CSV (`smiles`, `gap` in Hartree, `alpha`; other columns ignored),
//! - raw `dsgdb9nsd_*.xyz` files (a folder of them, or the official `dsgdb9nsd.xyz.tar.bz2`
//!   read directly), whose traps are handled: Mathematica exponents (`7.9254*^-6`), trailing
//!   tabs, leading spaces.
//!
//! Gap in eV = gap in Hartree x 27.211386. The SMILES kept is the first (GDB-17) one.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// eV per Hartree (the factor the shared data uses).
pub const HARTREE_EV: f64 = 27.211386;

/// One molecule and its two targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Molecule {
    /// QM9 index (the N of `dsgdb9nsd_N.xyz`), when the source has it.
    pub index: Option<u64>,
    /// GDB-17 SMILES.
    pub smiles: String,
    /// HOMO-LUMO gap in eV.
    pub gap_ev: f64,
    /// Isotropic polarisability in bohr^3.
    pub alpha_bohr3: f64,
}

/// Parses a QM9 number, accepting Mathematica exponents (`1.5*^-6`).
pub fn parse_number(field: &str) -> Option<f64> {
    let f = field.trim();
    let v: f64 = if f.contains("*^") { f.replacen("*^", "e", 1).parse().ok()? } else { f.parse().ok()? };
    v.is_finite().then_some(v)
}

/// Parses the text of one raw QM9 `.xyz` record; `path` names it in errors.
pub fn parse_xyz(text: &str, path: &Path) -> Result<Molecule> {
    let err = |line: usize, message: String| Error::Data { path: path.to_path_buf(), line, message };
    let lines: Vec<&str> = text.lines().collect();
    let n_atoms: usize = lines
        .first()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| err(1, "expected the number of atoms".into()))?;
    let props: Vec<&str> = lines.get(1).map(|l| l.split_whitespace().collect()).unwrap_or_default();
    if props.len() < 17 || props[0] != "gdb" {
        return Err(err(2, format!("expected 'gdb <index>' and 15 properties, found {} fields", props.len())));
    }
    let index: u64 = props[1].parse().map_err(|_| err(2, format!("index '{}' is not a number", props[1])))?;
    // After "gdb N": A B C mu alpha homo lumo gap ...
    let field = |i: usize, name: &str| {
        parse_number(props[i + 2]).ok_or_else(|| err(2, format!("{name}: '{}' is not a number", props[i + 2])))
    };
    let alpha = field(4, "alpha")?;
    let gap_ha = field(7, "gap")?;
    for (k, line) in lines.iter().enumerate().skip(2).take(n_atoms) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 || f[1..5].iter().any(|v| parse_number(v).is_none()) {
            return Err(err(k + 1, format!("expected an atom line 'element x y z charge', found '{}'", line.trim())));
        }
    }
    let smiles_line = n_atoms + 3;
    let smiles = lines
        .get(smiles_line)
        .and_then(|l| l.split_whitespace().next())
        .ok_or_else(|| err(smiles_line + 1, "expected the SMILES line".into()))?;
    Ok(Molecule { index: Some(index), smiles: smiles.to_string(), gap_ev: gap_ha * HARTREE_EV, alpha_bohr3: alpha })
}

/// Outcome of reading many records with `skip_bad`.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The molecules read.
    pub molecules: Vec<Molecule>,
    /// Records skipped as malformed, with their errors.
    pub skipped: Vec<Error>,
}

impl Loaded {
    fn push(&mut self, record: Result<Molecule>, skip_bad: bool) -> Result<()> {
        match record {
            Ok(m) => self.molecules.push(m),
            Err(e) if skip_bad => self.skipped.push(e),
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// Reads QM9 from a CSV file, a folder of `.xyz` files or a `.tar.bz2` archive of them.
/// A malformed record is an error, or with `skip_bad` a counted skip.
pub fn load(path: &Path, skip_bad: bool) -> Result<Loaded> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "xyz"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::invalid(format!("{}: no .xyz files in this folder", path.display())));
        }
        let mut out = Loaded::default();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|source| Error::Io { path: f.clone(), source })?;
            out.push(parse_xyz(&text, &f), skip_bad)?;
        }
        return Ok(out);
    }
    let name = path.to_string_lossy();
    if name.ends_with(".tar.bz2") || name.ends_with(".tbz2") {
        let file = std::fs::File::open(path).map_err(io)?;
        let mut archive = tar::Archive::new(bzip2::read::BzDecoder::new(file));
        let mut out = Loaded::default();
        for entry in archive.entries().map_err(io)? {
            let mut entry = entry.map_err(io)?;
            let inner = path.join(&entry.path().map_err(io)?);
            if !inner.to_string_lossy().ends_with(".xyz") {
                continue;
            }
            let mut text = String::new();
            entry.read_to_string(&mut text).map_err(|source| Error::Io { path: inner.clone(), source })?;
            out.push(parse_xyz(&text, &inner), skip_bad)?;
        }
        return Ok(out);
    }
    read_csv(path, skip_bad)
}

/// Reads the shared layout (`smiles,gap_ev,alpha_bohr3`, optional `qm9_index`) or the
/// MoleculeNet layout (`smiles,gap,alpha`, gap in Hartree).
pub fn read_csv(path: &Path, skip_bad: bool) -> Result<Loaded> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
    let err = |line: usize, message: String| Error::Data { path: path.to_path_buf(), line, message };
    let header = reader.headers().map_err(|e| err(1, format!("cannot read the header: {e}")))?.clone();
    let col = |name: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    let smiles = col("smiles").ok_or_else(|| err(1, "no 'smiles' column".into()))?;
    let (gap, scale, alpha) = match (col("gap_ev"), col("alpha_bohr3"), col("gap"), col("alpha")) {
        (Some(g), Some(a), _, _) => (g, 1.0, a),
        (_, _, Some(g), Some(a)) => (g, HARTREE_EV, a),
        _ => {
            return Err(err(
                1,
                "expected columns gap_ev and alpha_bohr3, or MoleculeNet's gap (Hartree) and alpha".into(),
            ));
        }
    };
    let index = col("qm9_index").or_else(|| col("mol_id"));
    let mut out = Loaded::default();
    for (row, record) in reader.records().enumerate() {
        let line = row + 2;
        let record = record.map_err(|e| err(line, format!("malformed CSV: {e}")))?;
        let parsed = (|| {
            if record.len() != header.len() {
                return Err(err(
                    line,
                    format!("expected {} fields as in the header, found {}", header.len(), record.len()),
                ));
            }
            let number = |c: usize| {
                parse_number(&record[c]).ok_or_else(|| {
                    err(line, format!("column '{}': '{}' is not a finite number", &header[c], &record[c]))
                })
            };
            let s = record[smiles].trim();
            if s.is_empty() {
                return Err(err(line, "column 'smiles' is empty".into()));
            }
            Ok(Molecule {
                index: index.and_then(|c| record[c].trim().trim_start_matches("gdb_").parse().ok()),
                smiles: s.to_string(),
                gap_ev: number(gap)? * scale,
                alpha_bohr3: number(alpha)?,
            })
        })();
        out.push(parsed, skip_bad)?;
    }
    if out.molecules.is_empty() && out.skipped.is_empty() {
        return Err(err(1, "no data rows after the header".into()));
    }
    Ok(out)
}
