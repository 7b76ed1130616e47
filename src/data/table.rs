//! Numeric columns from a CSV file with a header row.
//!
//! [`read_columns`] picks columns by name (or 0-based index) and returns them as `f64`
//! matrices, one per group of columns, rows in file order. Every defect is an
//! [`Error::Data`] naming the file, the 1-based line (the header is line 1) and the column:
//! a missing or empty file, a missing or ambiguous column, a ragged row, a field that is not a
//! number, NaN or infinity.
//!
//! ```no_run
//! use stib::data::table::{read_columns, ColumnSpec};
//! let specs = [ColumnSpec::parse_list("x0,x1"), ColumnSpec::parse_list("y0,y1")];
//! let groups = read_columns("spiral_test.csv".as_ref(), &specs).unwrap();
//! assert_eq!(groups[0].ncols(), 2);
//! ```

use std::path::Path;

use ndarray::Array2;

use crate::error::{Error, Result};

/// One column, named by its header or by its 0-based position, or every column whose header
/// starts with a prefix (`z0_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSpec {
    /// The column whose header is this name.
    Name(String),
    /// The column at this 0-based position.
    Index(usize),
    /// Every column whose header starts with this text, in the file's order.
    Prefix(String),
}

impl ColumnSpec {
    /// Parses one column: a header name, or a 0-based index when it is all digits and no
    /// header carries that name, or a prefix when it ends with `*`.
    pub fn parse(s: &str) -> Self {
        let s = s.trim();
        if let Some(prefix) = s.strip_suffix('*') {
            return ColumnSpec::Prefix(prefix.to_string());
        }
        match s.parse::<usize>() {
            Ok(i) => ColumnSpec::Index(i),
            Err(_) => ColumnSpec::Name(s.to_string()),
        }
    }

    /// Parses a comma-separated list such as `x0,x1` or `0,1`.
    pub fn parse_list(s: &str) -> Vec<Self> {
        s.split(',').filter(|p| !p.trim().is_empty()).map(Self::parse).collect()
    }

    /// Resolves the column against a header, returning its positions.
    fn resolve(&self, header: &csv::StringRecord, path: &Path) -> Result<Vec<usize>> {
        let err = |message: String| Error::Data { path: path.to_path_buf(), line: 1, message };
        let columns = || header.iter().collect::<Vec<_>>().join(", ");
        match self {
            ColumnSpec::Prefix(prefix) => {
                let hits: Vec<usize> =
                    header.iter().enumerate().filter(|(_, h)| h.trim().starts_with(prefix)).map(|(i, _)| i).collect();
                if hits.is_empty() {
                    return Err(err(format!("no column starts with '{prefix}' (columns: {})", columns())));
                }
                Ok(hits)
            }
            ColumnSpec::Name(name) => {
                let hits: Vec<usize> =
                    header.iter().enumerate().filter(|(_, h)| h.trim() == name).map(|(i, _)| i).collect();
                match hits.as_slice() {
                    [i] => Ok(vec![*i]),
                    [] => Err(err(format!("no column named '{name}' (columns: {})", columns()))),
                    _ => Err(err(format!("column name '{name}' appears {} times in the header", hits.len()))),
                }
            }
            ColumnSpec::Index(i) => {
                // A header that is literally a number takes precedence over the position.
                let by_name: Vec<usize> =
                    header.iter().enumerate().filter(|(_, h)| h.trim() == i.to_string()).map(|(j, _)| j).collect();
                if let [j] = by_name.as_slice() {
                    return Ok(vec![*j]);
                }
                if *i < header.len() {
                    Ok(vec![*i])
                } else {
                    Err(err(format!("column index {i} is out of range: the file has {} columns", header.len())))
                }
            }
        }
    }
}

/// Reads the given groups of columns from a CSV file with a header row.
///
/// Returns one `rows x group.len()` matrix per group. Columns that are not selected may hold
/// anything (text such as SMILES), but every row must have as many fields as the header.
pub fn read_columns(path: &Path, groups: &[Vec<ColumnSpec>]) -> Result<Vec<Array2<f64>>> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(file);
    let data_err = |line: usize, message: String| Error::Data { path: path.to_path_buf(), line, message };
    let header = reader.headers().map_err(|e| data_err(1, format!("cannot read the header: {e}")))?.clone();
    if header.is_empty() || header.iter().all(|h| h.trim().is_empty()) {
        return Err(data_err(1, "the file is empty: expected a header row".into()));
    }
    let mut positions = Vec::with_capacity(groups.len());
    for group in groups {
        if group.is_empty() {
            return Err(Error::invalid("an empty list of columns was given"));
        }
        let cols = group.iter().map(|c| c.resolve(&header, path)).collect::<Result<Vec<_>>>()?;
        positions.push(cols.concat());
    }
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); groups.len()];
    let mut record = csv::StringRecord::new();
    let mut rows = 0usize;
    loop {
        let line_hint = rows + 2;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(line_hint, |p| p.line() as usize);
                return Err(data_err(line, format!("malformed CSV: {e}")));
            }
        }
        let line = record.position().map_or(line_hint, |p| p.line() as usize);
        if record.len() != header.len() {
            return Err(data_err(
                line,
                format!("expected {} fields as in the header, found {}", header.len(), record.len()),
            ));
        }
        for (g, cols) in positions.iter().enumerate() {
            for &c in cols {
                let field = record[c].trim();
                let v: f64 = field
                    .parse()
                    .map_err(|_| data_err(line, format!("column '{}': '{field}' is not a number", header[c].trim())))?;
                if !v.is_finite() {
                    return Err(data_err(
                        line,
                        format!("column '{}': {field} is not a finite number", header[c].trim()),
                    ));
                }
                values[g].push(v);
            }
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(data_err(1, "no data rows after the header".into()));
    }
    values
        .into_iter()
        .zip(&positions)
        .map(|(v, cols)| Array2::from_shape_vec((rows, cols.len()), v).map_err(|e| Error::Internal(e.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_takes_every_matching_column_in_file_order() {
        let (_dir, path) = {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("codes.csv");
            std::fs::write(&path, "smiles,z0_0,gap,z0_1,z1_0\nCCO,1.5,6.0,2.5,9\nCCC,3.5,7.0,4.5,8\n").unwrap();
            (dir, path)
        };
        assert_eq!(ColumnSpec::parse("z0_*"), ColumnSpec::Prefix("z0_".into()));
        let groups =
            read_columns(&path, &[ColumnSpec::parse_list("z0_*"), ColumnSpec::parse_list("gap,z1_*")]).unwrap();
        assert_eq!(groups[0], ndarray::array![[1.5, 2.5], [3.5, 4.5]]);
        assert_eq!(groups[1], ndarray::array![[6.0, 9.0], [7.0, 8.0]]);
        let err = read_columns(&path, &[ColumnSpec::parse_list("z2_*")]).unwrap_err().to_string();
        assert!(err.contains("no column starts with 'z2_'") && err.contains("codes.csv"), "{err}");
    }
}
