use std::path::PathBuf;

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
    /// A manifest could not be read.
    #[error(transparent)]
    Manifest(#[from] cluster_sim::ManifestError),
}

/// A failed waPC call into the guest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("guest call `{operation}` failed: {message}")]
pub struct GuestFailure {
    pub operation: String,
    pub message: String,
}
