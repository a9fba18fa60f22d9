use std::path::{Path, PathBuf};

use serde_json::Value;

/// Everything that can go wrong in the harness. Messages include their
/// cause, so a plain `{error}` tells the whole story.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("cannot read {}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The module could not be compiled, linked or instantiated.
    #[error("cannot load the policy module: {0}")]
    Load(String),
    /// The guest failed: a trap (panic, out-of-bounds access, ...), a
    /// timeout, or a waPC error it reported itself. A policy should never do
    /// this, whatever its input: policy-server turns it into a rejection
    /// with code 500.
    #[error(transparent)]
    Guest(GuestFailure),
    /// The guest answered, but not with what the Kubewarden protocol says.
    #[error("the answer to `{operation}` is not valid: {cause}: {answer}")]
    BadAnswer {
        operation: String,
        answer: String,
        cause: serde_json::Error,
    },
    #[error("cannot encode the payload of `{operation}`: {cause}")]
    Encode {
        operation: String,
        cause: serde_json::Error,
    },
    #[error("{}: {cause}", document_location(file.as_deref(), *document))]
    Yaml {
        file: Option<PathBuf>,
        /// 1-based position of the document in the stream.
        document: usize,
        cause: serde_yaml_ng::Error,
    },
    #[error("{}: not an object but {found}", document_location(file.as_deref(), *document))]
    NotAnObject {
        file: Option<PathBuf>,
        document: usize,
        found: Value,
    },
}

/// A failed waPC call into the guest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("guest call `{operation}` failed: {message}")]
pub struct GuestFailure {
    pub operation: String,
    pub message: String,
}

impl HarnessError {
    /// Names `path` as the file a YAML error comes from.
    pub(crate) fn in_file(self, path: &Path) -> Self {
        match self {
            Self::Yaml {
                document, cause, ..
            } => Self::Yaml {
                file: Some(path.to_owned()),
                document,
                cause,
            },
            Self::NotAnObject {
                document, found, ..
            } => Self::NotAnObject {
                file: Some(path.to_owned()),
                document,
                found,
            },
            other => other,
        }
    }
}

fn document_location(file: Option<&Path>, document: usize) -> String {
    match file {
        Some(file) => format!("{} (YAML document {document})", file.display()),
        None => format!("YAML document {document}"),
    }
}
