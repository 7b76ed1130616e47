//! SMILES tokens, a vocabulary and one-hot sequences for the SMILES VAE.
//!
//! The tokenizer keeps multi-character tokens whole: bracket atoms (`[nH]`, `[C@@H]`,
//! `[NH3+]`), the two-letter organic-subset atoms `Cl` and `Br`, and `%nn` ring closures;
//! every other character is a token. It does not check chemistry (that is
//! [`crate::chem`]'s job), only that brackets close and `%` has two digits.
//!
//! A [`Vocabulary`] is built from training SMILES, saved beside the model, and maps a SMILES to
//! `<start> tokens <end> <pad>...` of a fixed length.
//!
//! ```
//! use stib::data::smiles::{tokenize, Vocabulary};
//! assert_eq!(tokenize("ClC[nH]%12").unwrap(), ["Cl", "C", "[nH]", "%12"]);
//! let vocab = Vocabulary::build(["CCO", "C1=CC=CO1"], 12).unwrap();
//! let ids = vocab.encode("OCC").unwrap();
//! assert_eq!(vocab.decode(&ids), "OCC");
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Padding token (id 0).
pub const PAD: &str = "<pad>";
/// Start-of-sequence token (id 1).
pub const START: &str = "<start>";
/// End-of-sequence token (id 2).
pub const END: &str = "<end>";

/// Splits a SMILES string into tokens.
pub fn tokenize(smiles: &str) -> Result<Vec<String>> {
    let chars: Vec<char> = smiles.chars().collect();
    let mut tokens = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let len = match c {
            '[' => match chars[i..].iter().position(|&d| d == ']') {
                Some(close) => close + 1,
                None => return Err(Error::invalid(format!("SMILES '{smiles}': '[' at position {i} is never closed"))),
            },
            '%' => {
                if chars.len() > i + 2 && chars[i + 1].is_ascii_digit() && chars[i + 2].is_ascii_digit() {
                    3
                } else {
                    return Err(Error::invalid(format!("SMILES '{smiles}': '%' at position {i} needs two digits")));
                }
            }
            'C' if chars.get(i + 1) == Some(&'l') => 2,
            'B' if chars.get(i + 1) == Some(&'r') => 2,
            c if c.is_whitespace() => {
                return Err(Error::invalid(format!("SMILES '{smiles}': whitespace at position {i}")));
            }
            _ => 1,
        };
        tokens.push(chars[i..i + len].iter().collect());
        i += len;
    }
    if tokens.is_empty() {
        return Err(Error::invalid("empty SMILES"));
    }
    Ok(tokens)
}

/// Token ids of a training set, with the special tokens first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vocabulary {
    /// Tokens by id: `<pad>`, `<start>`, `<end>`, then the data's tokens sorted.
    pub tokens: Vec<String>,
    /// Length of every encoded sequence (start and end tokens included).
    pub max_len: usize,
}

impl Vocabulary {
    /// Builds the vocabulary of `smiles`; `max_len` must hold the longest one plus start and
    /// end tokens.
    pub fn build<'a>(smiles: impl IntoIterator<Item = &'a str>, max_len: usize) -> Result<Self> {
        let mut set = BTreeSet::new();
        let mut longest = 0;
        for s in smiles {
            let t = tokenize(s)?;
            longest = longest.max(t.len());
            set.extend(t);
        }
        if longest + 2 > max_len {
            return Err(Error::invalid(format!(
                "the longest SMILES has {longest} tokens; max_len must be at least {}",
                longest + 2
            )));
        }
        let tokens = [PAD, START, END].iter().map(|s| s.to_string()).chain(set).collect();
        Ok(Vocabulary { tokens, max_len })
    }

    /// Number of tokens, special ones included.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True when there are no tokens (never, for a built vocabulary).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// `<start> tokens <end> <pad>...`, `max_len` ids.
    pub fn encode(&self, smiles: &str) -> Result<Vec<usize>> {
        let tokens = tokenize(smiles)?;
        if tokens.len() + 2 > self.max_len {
            return Err(Error::invalid(format!(
                "SMILES '{smiles}' has {} tokens, more than the model's {}",
                tokens.len(),
                self.max_len - 2
            )));
        }
        let mut ids = Vec::with_capacity(self.max_len);
        ids.push(1);
        for t in &tokens {
            let id = self.tokens.iter().position(|v| v == t).ok_or_else(|| {
                Error::invalid(format!("SMILES '{smiles}': token '{t}' is not in the model's vocabulary"))
            })?;
            ids.push(id);
        }
        ids.push(2);
        ids.resize(self.max_len, 0);
        Ok(ids)
    }

    /// The SMILES of a sequence of ids: tokens up to the first `<end>`, specials skipped.
    pub fn decode(&self, ids: &[usize]) -> String {
        ids.iter()
            .take_while(|&&i| i != 2)
            .filter(|&&i| i > 2)
            .filter_map(|&i| self.tokens.get(i).map(String::as_str))
            .collect()
    }

    /// One-hot rows (`max_len x len()`, row-major) of a sequence of ids.
    pub fn one_hot(&self, ids: &[usize]) -> Vec<f32> {
        let mut out = vec![0.0; ids.len() * self.len()];
        for (row, &id) in ids.iter().enumerate() {
            out[row * self.len() + id] = 1.0;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_character_tokens_stay_whole() {
        assert_eq!(
            tokenize("C[C@@H](Br)c1cc[nH+]c1%10").unwrap(),
            ["C", "[C@@H]", "(", "Br", ")", "c", "1", "c", "c", "[nH+]", "c", "1", "%10"]
        );
        assert!(tokenize("C[NH").is_err());
        assert!(tokenize("C%1").is_err());
        assert!(tokenize("").is_err());
        assert!(tokenize("C C").is_err());
    }

    #[test]
    fn unknown_tokens_and_long_strings_are_errors() {
        let v = Vocabulary::build(["CCO"], 6).unwrap();
        assert!(v.encode("CCN").unwrap_err().to_string().contains("'N'"));
        assert!(v.encode("CCCCO").is_err());
        assert!(Vocabulary::build(["CCCCCC"], 6).is_err());
    }
}
