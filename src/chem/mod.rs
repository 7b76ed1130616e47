//! Chemistry: a thin layer over `cosmolkit` (pinned; agreed with RDKit on validity, formula
//! and canonical SMILES on 7,000 valid and corrupted SMILES). No SMILES parsing here.
//!
//! ```
//! assert_eq!(stib::chem::formula("CC(C)(O)C1=CC=CO1").unwrap(), "C7H10O2");
//! assert!(stib::chem::canonical("C1CC").is_err());
//! ```

use crate::error::{Error, Result};

/// A parsed, sanitised molecule.
pub type Molecule = cosmolkit::Molecule;

/// Parses and sanitises a SMILES string; an invalid one is an error saying why.
pub fn parse(smiles: &str) -> Result<Molecule> {
    Molecule::from_smiles(smiles).map_err(|e| Error::invalid(format!("invalid SMILES '{smiles}': {e}")))
}

/// True when the SMILES parses into a valid molecule.
pub fn is_valid(smiles: &str) -> bool {
    Molecule::from_smiles(smiles).is_ok()
}

/// The canonical SMILES of a molecule.
pub fn canonical(smiles: &str) -> Result<String> {
    canonical_of(&parse(smiles)?, smiles)
}

/// The Hill-ordered molecular formula, implicit hydrogens counted (e.g. `C7H10O2`).
pub fn formula(smiles: &str) -> Result<String> {
    formula_of(&parse(smiles)?, smiles)
}

/// Canonical SMILES and formula from one parse.
pub fn canonical_and_formula(smiles: &str) -> Result<(String, String)> {
    let mol = parse(smiles)?;
    Ok((canonical_of(&mol, smiles)?, formula_of(&mol, smiles)?))
}

fn canonical_of(mol: &Molecule, smiles: &str) -> Result<String> {
    let text = mol.to_smiles().map_err(|e| Error::invalid(format!("cannot write SMILES for '{smiles}': {e}")))?;
    String::from_utf8(text.into_bytes()).map_err(|e| Error::Internal(format!("SMILES writer gave non-UTF-8 text: {e}")))
}

fn formula_of(mol: &Molecule, smiles: &str) -> Result<String> {
    mol.molecular_formula().map_err(|e| Error::invalid(format!("no formula for '{smiles}': {e}")))
}

/// An SVG depiction of the molecule.
pub fn depict_svg(smiles: &str, width: u32, height: u32) -> Result<String> {
    let mol = parse(smiles)?;
    mol.to_svg(width, height).map_err(|e| Error::invalid(format!("cannot draw '{smiles}': {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_formula_and_canonical_form() {
        assert!(is_valid("OCC") && !is_valid("C1CC") && !is_valid("C(C") && !is_valid("CO5"));
        assert_eq!(formula("OCC").unwrap(), "C2H6O");
        assert_eq!(formula("c1ccccc1Cl").unwrap(), "C6H5Cl");
        assert_eq!(canonical("OCC").unwrap(), canonical("CCO").unwrap());
        assert_ne!(canonical("OCC").unwrap(), canonical("COC").unwrap());
        assert!(depict_svg("CCO", 200, 200).unwrap().contains("<svg"));
        assert_eq!(canonical_and_formula("OCC").unwrap(), (canonical("CCO").unwrap(), "C2H6O".to_string()));
    }
}
