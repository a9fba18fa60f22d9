//! Every way a release step can fail, each saying what to do about it.

use std::path::PathBuf;

use oci_client::errors::{OciDistributionError, OciErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "the policy module {path} does not exist: build it with \
         `cargo build --release --target wasm32-wasip1 -p linkerd-ha-policy` \
         (or point POLICY_WASM at it)"
    )]
    ModuleMissing { path: PathBuf },

    #[error("the annotated module {path} does not exist: run `policy-release annotate` first")]
    AnnotatedModuleMissing { path: PathBuf },

    #[error("{path}: {source}")]
    CargoToml {
        path: PathBuf,
        source: toml::de::Error,
    },

    #[error("{path}: {source}")]
    MetadataSyntax {
        path: PathBuf,
        source: serde_yaml_ng::Error,
    },

    #[error("invalid policy metadata: {0}")]
    InvalidMetadata(String),

    #[error(
        "metadata.yml says io.kubewarden.policy.version is {metadata} but Cargo.toml's \
         version is {cargo}: make them agree (Cargo.toml is what gets published)"
    )]
    VersionDrift { metadata: String, cargo: String },

    #[error(
        "{path} was annotated as version {embedded} but Cargo.toml's version is {cargo}: \
         run `policy-release annotate` again (or pass --tag)"
    )]
    StaleAnnotation {
        path: PathBuf,
        embedded: String,
        cargo: String,
    },

    #[error("{what} is not a WebAssembly module: {source}")]
    Wasm {
        what: String,
        source: wasmparser::BinaryReaderError,
    },

    #[error("{what} is a WebAssembly component; Kubewarden policies are core modules")]
    NotCoreModule { what: String },

    #[error(
        "{what} has no `{section}` custom section: it is not an annotated policy \
         (run `policy-release annotate`)"
    )]
    NotAnnotated { what: String, section: String },

    #[error("the `{section}` section of {what} is not policy metadata JSON: {source}")]
    SectionJson {
        what: String,
        section: String,
        source: serde_json::Error,
    },

    #[error("cannot encode {what} as JSON: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },

    #[error("cannot encode {what} as YAML: {source}")]
    Yaml {
        what: &'static str,
        source: serde_yaml_ng::Error,
    },

    #[error("invalid OCI reference `{reference}`: {source}")]
    Reference {
        reference: String,
        source: oci_client::ParseError,
    },

    #[error("authentication failed for registry {registry}: {hint} (registry said: {detail})")]
    AuthenticationFailed {
        registry: String,
        hint: &'static str,
        detail: String,
    },

    #[error("registry {registry}: {source}")]
    Registry {
        registry: String,
        source: Box<OciDistributionError>,
    },

    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),

    #[error("{what} digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: &'static str,
        expected: String,
        actual: String,
    },

    #[error("{reference} is not a Kubewarden policy artifact: {reason}")]
    UnexpectedArtifact { reference: String, reason: String },

    #[error(
        "the module pulled from {reference} ({pulled} bytes) differs from the local \
         module {local_path} ({local} bytes)"
    )]
    ContentMismatch {
        reference: String,
        pulled: usize,
        local: usize,
        local_path: PathBuf,
    },

    #[error("{path}: {reason}")]
    ArtifactHub { path: PathBuf, reason: String },

    #[error("key {path}: {reason}")]
    Key { path: PathBuf, reason: String },

    #[error("{reference}: {source}")]
    At {
        reference: String,
        source: Box<ReleaseError>,
    },

    #[error("nothing to sign or verify at {reference}: {reason}")]
    NoDigest { reference: String, reason: String },

    #[error("{reference}: {step} failed: {reason}")]
    Cosign {
        reference: String,
        step: String,
        reason: String,
    },

    #[error("verification of {reference} failed: {failed}")]
    VerificationFailed { reference: String, failed: String },

    #[error("SBOM: {0}")]
    Sbom(String),

    #[error("invalid annotation `{0}`: expected KEY=VALUE")]
    Annotation(String),

    #[error("createdAt `{value}` is not an RFC 3339 time ({reason}); e.g. 2026-11-26T00:00:00Z")]
    CreatedAt { value: String, reason: String },

    #[error(
        "{path} is out of date with metadata.yml and Cargo.toml (first difference at \
         line {line}: committed {committed:?}, generated {generated:?}); regenerate it \
         with `cargo run -p policy-release -- artifacthub`"
    )]
    ArtifactHubDrift {
        path: PathBuf,
        line: usize,
        committed: String,
        generated: String,
    },
}

/// The messages of an OCI error body (`{"errors":[{"message":…}]}`), or
/// the body itself when it is not one.
fn envelope_messages(body: &str) -> String {
    match serde_json::from_str::<oci_client::errors::OciEnvelope>(body) {
        Ok(envelope) if !envelope.errors.is_empty() => envelope
            .errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        _ => body.trim().to_string(),
    }
}

pub type Result<T, E = ReleaseError> = std::result::Result<T, E>;

impl ReleaseError {
    /// Turns an oci-client error into ours, singling out authentication
    /// failures: the registry answers those in several shapes (401 on any
    /// request, an OCI error envelope with UNAUTHORIZED/DENIED, or a failed
    /// token request), and a user needs the same message for all of them.
    pub(crate) fn from_registry(
        registry: &str,
        had_credentials: bool,
        error: OciDistributionError,
    ) -> Self {
        let auth_detail = match &error {
            OciDistributionError::AuthenticationFailure(reason) => Some(reason.clone()),
            OciDistributionError::UnauthorizedError { url } => Some(format!("401 for {url}")),
            OciDistributionError::ServerError { code, url, message }
                if matches!(code, 401 | 403) =>
            {
                Some(format!("{code} for {url}: {}", envelope_messages(message)))
            }
            OciDistributionError::RegistryError { envelope, url }
                if envelope.errors.iter().any(|e| {
                    matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)
                }) =>
            {
                let messages: Vec<&str> =
                    envelope.errors.iter().map(|e| e.message.as_str()).collect();
                Some(format!("{url}: {}", messages.join("; ")))
            }
            _ => None,
        };
        match auth_detail {
            Some(detail) => ReleaseError::AuthenticationFailed {
                registry: registry.to_string(),
                hint: if had_credentials {
                    "the registry rejected the username/password"
                } else {
                    "the registry requires credentials: pass --username and --password"
                },
                detail,
            },
            None => ReleaseError::Registry {
                registry: registry.to_string(),
                source: Box::new(error),
            },
        }
    }
}
