//! The one error type of the library.
//!
//! Every failure a user can cause (a missing file, a bad field, an impossible argument) is a
//! value of [`Error`] that says what was wrong and where; the binary turns it into one line and
//! exit code 2. Everything else (a bug, a numerical breakdown) is [`Error::Internal`] and
//! exits with code 1.

use std::path::PathBuf;

/// Errors raised by `stib`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A data file is malformed at a known place.
    #[error("{path}:{line}: {message}")]
    Data {
        /// The file.
        path: PathBuf,
        /// 1-based line number (the header is line 1).
        line: usize,
        /// What is wrong, naming the column where there is one.
        message: String,
    },
    /// An argument or setting is not acceptable.
    #[error("{0}")]
    InvalidInput(String),
    /// Something went wrong that the user could not have caused.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// True when the user's input caused the error (exit code 2), false for internal
    /// failures (exit code 1).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, Error::Internal(_))
    }

    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidInput(message.into())
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
