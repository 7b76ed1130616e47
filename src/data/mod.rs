//! Data: the artificial spiral process, numeric tables read from CSV files, QM9 molecules and
//! SMILES tokens, and molecules split and encoded for a model.

pub mod auxiliary;
pub mod molecule_set;
pub mod qm9;
pub mod smiles;
pub mod spiral;
pub mod table;

/// The folder of the shared data sets: `$STIB_DATA_DIR`, or `../shared/data` when unset.
pub fn data_dir() -> std::path::PathBuf {
    std::env::var_os("STIB_DATA_DIR").map_or_else(|| std::path::PathBuf::from("../shared/data"), Into::into)
}
