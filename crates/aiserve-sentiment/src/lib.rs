//! Built-in default sentiment model of aiserve: text in, one score in `[-1, 1]` out.
//!
//! The model is a ridge regression over hashed token uni/bigrams (with negation
//! scope marking) and character n-grams, trained on the VADER human-rated
//! sentiment sentences (Hutto & Gilbert, ICWSM 2014); see `MODEL.md` at the
//! workspace root for the model card.
//!
//! ```
//! use aiserve_sentiment::SentimentModel;
//! let model = SentimentModel::embedded();
//! assert!(model.score("I love this, it is great!") > 0.0);
//! assert!(model.score("This is awful and boring.") < 0.0);
//! ```

#![warn(missing_docs)]

pub mod eval;
pub mod featurize;
mod model;
pub mod train;

pub use featurize::FeatureConfig;
pub use model::{SentimentModel, FORMAT_VERSION, MAGIC};

/// Every error this crate returns.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SentimentError {
    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {message}")]
    Io {
        /// The file concerned.
        path: String,
        /// The underlying error, as text.
        message: String,
    },
    /// A TSV data file is malformed.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file concerned.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The model file does not start with the expected magic bytes.
    #[error("not a sentiment model file (bad magic)")]
    BadMagic,
    /// The model file has a format version this build cannot read.
    #[error("unsupported model format version {0} (expected {FORMAT_VERSION})")]
    UnsupportedVersion(u32),
    /// The model file is shorter or longer than its header says.
    #[error("model file has {actual} bytes, expected {expected}")]
    Truncated {
        /// Expected length in bytes.
        expected: usize,
        /// Actual length in bytes.
        actual: usize,
    },
    /// The model file's checksum does not match its contents.
    #[error("model file checksum mismatch (stored {stored:#018x}, computed {computed:#018x})")]
    ChecksumMismatch {
        /// Checksum stored in the file.
        stored: u64,
        /// Checksum of the bytes read.
        computed: u64,
    },
    /// The feature configuration or weights are invalid or unsupported.
    #[error("invalid model configuration: {0}")]
    InvalidConfig(String),
    /// Invalid arguments (e.g. mismatched lengths, no training data).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

impl SentimentError {
    /// Builds an [`SentimentError::Io`] for `path` from an I/O error.
    pub fn io(path: impl AsRef<std::path::Path>, e: std::io::Error) -> Self {
        SentimentError::Io {
            path: path.as_ref().display().to_string(),
            message: e.to_string(),
        }
    }
}
