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

/// A formula as a user writes it (`C7H10O2`, `H10C7O2`, `CH3CH2OH`) in the Hill order that
/// [`formula`] writes (carbon, hydrogen, then the other elements alphabetically; without carbon,
/// all alphabetically; counts of 1 left out), so that the two compare as strings. Element
/// symbols are checked by `cosmolkit` (an atom `[Xx]` must parse); a malformed formula is an
/// error that says where.
///
/// ```
/// assert_eq!(stib::chem::hill_formula("H10C7O2").unwrap(), "C7H10O2");
/// assert_eq!(stib::chem::hill_formula("CH3CH2OH").unwrap(), "C2H6O");
/// assert!(stib::chem::hill_formula("C7H10Q2").is_err());
/// ```
pub fn hill_formula(text: &str) -> Result<String> {
    let bad = |why: String| Error::invalid(format!("formula '{text}': {why}"));
    let chars: Vec<char> = text.trim().chars().collect();
    if chars.is_empty() {
        return Err(bad("empty".into()));
    }
    let mut counts: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_uppercase() {
            return Err(bad(format!("expected an element symbol at character {}, found '{}'", i + 1, chars[i])));
        }
        let start = i;
        i += 1;
        while i < chars.len() && chars[i].is_ascii_lowercase() {
            i += 1;
        }
        let symbol: String = chars[start..i].iter().collect();
        let digits_start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let digits: String = chars[digits_start..i].iter().collect();
        let count = if digits.is_empty() {
            1
        } else {
            match digits.parse::<u64>() {
                Ok(n) if (1..=1_000_000).contains(&n) => n,
                _ => return Err(bad(format!("the count of {symbol} must be between 1 and 1000000, not {digits}"))),
            }
        };
        if !counts.contains_key(&symbol) && !is_valid(&format!("[{symbol}]")) {
            return Err(bad(format!("'{symbol}' is not an element")));
        }
        *counts.entry(symbol).or_default() += count;
    }
    let mut hill = String::new();
    let mut put = |symbol: &str, n: u64| {
        hill.push_str(symbol);
        if n > 1 {
            hill.push_str(&n.to_string());
        }
    };
    if let Some(c) = counts.remove("C") {
        put("C", c);
        if let Some(h) = counts.remove("H") {
            put("H", h);
        }
    }
    for (symbol, n) in counts {
        put(&symbol, n);
    }
    Ok(hill)
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

    #[test]
    fn formulas_are_written_in_the_order_formula_writes() {
        for (smiles, written) in [
            ("CC(C)(O)C1=CC=CO1", "O2C7H10"),
            ("c1ccccc1Cl", "ClC6H5"),
            ("c1ccccc1Br", "C6H5Br"),
            ("O", "H2O"),
            ("N", "NH3"),
            ("[Na+].[Cl-]", "ClNa"),
            ("OCC", "CH3CH2OH"),
        ] {
            assert_eq!(hill_formula(written).unwrap(), formula(smiles).unwrap(), "{written} for {smiles}");
        }
        assert_eq!(hill_formula(" C7H10O2 ").unwrap(), "C7H10O2");
        for (bad, says) in [
            ("", "empty"),
            ("C7H10Q2", "'Q' is not an element"),
            ("c7h10o2", "character 1"),
            ("C7 H10", "character 3"),
            ("C0H4", "between 1 and"),
            ("C99999999999999999999", "between 1 and"),
            ("Xx2", "'Xx' is not an element"),
        ] {
            let e = hill_formula(bad).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains(&format!("formula '{bad}'")), "{bad}: {e}");
        }
    }
}
