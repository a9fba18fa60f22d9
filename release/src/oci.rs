//! Publishing the annotated module as a Kubewarden OCI artifact and fetching
//! it back, with `oci-client` (what kwctl's policy-fetcher uses).
//!
//! The artifact: one layer of `application/vnd.wasm.content.layer.v1+wasm`
//! holding the module, a small `application/vnd.wasm.config.v1+json` config
//! and an OCI image manifest annotated from the embedded metadata. Every
//! byte of it is a function of the module, so pushing the same module twice
//! gives the same manifest digest.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol, ImageLayer};
use oci_client::manifest::{
    OciDescriptor, OciImageManifest, OCI_IMAGE_MEDIA_TYPE, WASM_CONFIG_MEDIA_TYPE,
    WASM_LAYER_MEDIA_TYPE,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::annotate::embedded_metadata;
use crate::error::{ReleaseError, Result};
use crate::metadata::{self, Metadata};

/// Where to push to or pull from.
#[derive(Debug, Clone)]
pub struct Target {
    /// `HOST[:PORT]`, optionally followed by a namespace path
    /// (`ghcr.io/linkerd-ha-policy`).
    pub registry: String,
    /// Repository inside the registry (`policies/linkerd-ha-policy`).
    pub repository: String,
    /// Plain HTTP instead of HTTPS (a local test registry).
    pub insecure: bool,
    pub credentials: Option<Credentials>,
}

#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

// The password never reaches logs or error messages.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub reference: String,
    /// `sha256:…` of the manifest, as the registry stores it.
    pub digest: String,
}

#[derive(Debug, Clone)]
pub struct Pulled {
    pub reference: String,
    pub digest: String,
    pub manifest: OciImageManifest,
    pub module: Vec<u8>,
}

/// The artifact's pieces, computed before any network traffic.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub manifest: OciImageManifest,
    pub manifest_bytes: Vec<u8>,
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
}

/// The wasm image config from the CNCF "Wasm OCI artifact" layout, without
/// its optional `created` timestamp so that the digest is reproducible.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WasmConfig<'a> {
    architecture: &'static str,
    os: &'static str,
    layer_digests: [&'a str; 1],
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

impl Target {
    /// Splits a whole reference as cosign and kwctl take it
    /// (`[registry://]HOST[:PORT]/REPO:TAG` or `…/REPO@sha256:…`) into the
    /// target and its tag or digest. A reference naming neither is refused:
    /// "latest" by default would sign whatever happens to be there.
    pub fn from_reference(
        text: &str,
        insecure: bool,
        credentials: Option<Credentials>,
    ) -> Result<(Target, String)> {
        let trimmed = text.strip_prefix("registry://").unwrap_or(text);
        let last = trimmed.rsplit('/').next().unwrap_or(trimmed);
        let names_version = trimmed.contains('/') && (last.contains(':') || last.contains('@'));
        if !names_version {
            return Err(ReleaseError::NoDigest {
                reference: text.to_string(),
                reason: "it names no tag and no @sha256: digest (e.g. HOST/REPO:v1.0.0)".into(),
            });
        }
        let reference: Reference = trimmed.parse().map_err(|source| ReleaseError::Reference {
            reference: text.to_string(),
            source,
        })?;
        let version = match (reference.digest(), reference.tag()) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.to_string(),
            (None, None) => {
                return Err(ReleaseError::NoDigest {
                    reference: text.to_string(),
                    reason: "it names no tag and no digest".into(),
                })
            }
        };
        Ok((
            Target {
                registry: reference.registry().to_string(),
                repository: reference.repository().to_string(),
                insecure,
                credentials,
            },
            version,
        ))
    }

    pub fn reference(&self, tag_or_digest: &str) -> Result<Reference> {
        let separator = if tag_or_digest.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        let text = format!(
            "{}/{}{separator}{tag_or_digest}",
            self.registry.trim_end_matches('/'),
            self.repository.trim_matches('/')
        );
        text.parse().map_err(|source| ReleaseError::Reference {
            reference: text.clone(),
            source,
        })
    }

    pub(crate) fn auth(&self) -> RegistryAuth {
        match &self.credentials {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        }
    }

    pub(crate) fn client(&self) -> Client {
        install_crypto_provider();
        Client::new(ClientConfig {
            protocol: if self.insecure {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            // Bounded waits: a dead registry fails the command, not hangs it.
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            ..ClientConfig::default()
        })
    }

    pub(crate) fn error(&self, error: oci_client::errors::OciDistributionError) -> ReleaseError {
        ReleaseError::from_registry(&self.registry, self.credentials.is_some(), error)
    }
}

/// rustls may see more than one crypto provider compiled in (sigstore
/// brings aws-lc-rs for its certificate checks), so the process picks
/// `ring`, the one reqwest's `rustls-tls` is built for, before any client.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Manifest annotations: the OCI standard keys mapped from the policy's
/// own, then every single-line policy annotation (kwctl leaves out
/// multi-line ones such as the usage text: registries reject or mangle them).
pub fn manifest_annotations(metadata: &Metadata) -> BTreeMap<String, String> {
    let standard = [
        ("org.opencontainers.image.title", metadata::ANNOTATION_TITLE),
        (
            "org.opencontainers.image.version",
            metadata::ANNOTATION_VERSION,
        ),
        (
            "org.opencontainers.image.description",
            metadata::ANNOTATION_DESCRIPTION,
        ),
        (
            "org.opencontainers.image.authors",
            metadata::ANNOTATION_AUTHOR,
        ),
        ("org.opencontainers.image.url", metadata::ANNOTATION_URL),
        (
            "org.opencontainers.image.source",
            metadata::ANNOTATION_SOURCE,
        ),
        (
            "org.opencontainers.image.licenses",
            metadata::ANNOTATION_LICENSE,
        ),
    ];
    let mut annotations: BTreeMap<String, String> = metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(_, value)| !value.contains('\n'))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    for (oci_key, policy_key) in standard {
        if let Some(value) = metadata
            .annotation(policy_key)
            .filter(|v| !v.contains('\n'))
        {
            annotations.insert(oci_key.to_string(), value.to_string());
        }
    }
    annotations
}

/// Builds the artifact for an annotated module (its metadata is read from
/// the module itself, so the manifest describes exactly what is shipped).
pub fn artifact(module: &[u8], what: &str) -> Result<Artifact> {
    let metadata = embedded_metadata(module, what)?;
    let layer_digest = sha256_digest(module);
    let config = serde_json::to_vec(&WasmConfig {
        architecture: "wasm",
        os: "wasip1",
        layer_digests: [&layer_digest],
    })
    .map_err(|source| ReleaseError::Json {
        what: "image config",
        source,
    })?;
    let layer = ImageLayer::new(module.to_vec(), WASM_LAYER_MEDIA_TYPE.to_string(), None);
    let config_blob =
        oci_client::client::Config::new(config.clone(), WASM_CONFIG_MEDIA_TYPE.to_string(), None);
    let mut manifest = OciImageManifest::build(
        &[layer],
        &config_blob,
        Some(manifest_annotations(&metadata)),
    );
    manifest.media_type = Some(OCI_IMAGE_MEDIA_TYPE.to_string());
    // We send these exact bytes, so the digest we print is the digest of
    // what the registry stored (serde_json keeps field order; maps are
    // sorted BTreeMaps).
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(|source| ReleaseError::Json {
        what: "image manifest",
        source,
    })?;
    Ok(Artifact {
        manifest,
        manifest_bytes,
        config,
        layer: module.to_vec(),
    })
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ReleaseError::Runtime)
}

/// Pushes the annotated `module` as `tag`; blocking.
pub fn push(target: &Target, tag: &str, module: &[u8], what: &str) -> Result<Pushed> {
    runtime()?.block_on(push_async(target, tag, module, what))
}

pub async fn push_async(target: &Target, tag: &str, module: &[u8], what: &str) -> Result<Pushed> {
    let artifact = artifact(module, what)?;
    let reference = target.reference(tag)?;
    let client = target.client();
    let auth = target.auth();
    let err = |e| target.error(e);

    // Resolves the registry's auth scheme (and, for token registries, fails
    // here on bad credentials) before any upload.
    client
        .auth(&reference, &auth, RegistryOperation::Push)
        .await
        .map_err(err)?;
    client
        .push_blob(
            &reference,
            &artifact.layer,
            &artifact.manifest.layers[0].digest,
        )
        .await
        .map_err(err)?;
    client
        .push_blob(
            &reference,
            &artifact.config,
            &artifact.manifest.config.digest,
        )
        .await
        .map_err(err)?;
    let content_type = http::HeaderValue::from_static(OCI_IMAGE_MEDIA_TYPE);
    client
        .push_manifest_raw(&reference, artifact.manifest_bytes.clone(), content_type)
        .await
        .map_err(err)?;

    let digest = sha256_digest(&artifact.manifest_bytes);
    let stored = client
        .fetch_manifest_digest(&reference, &auth)
        .await
        .map_err(err)?;
    if stored != digest {
        return Err(ReleaseError::DigestMismatch {
            what: "pushed manifest",
            expected: digest,
            actual: stored,
        });
    }
    Ok(Pushed {
        reference: reference.whole(),
        digest,
    })
}

/// Pulls `tag_or_digest`, checking the manifest digest (against
/// `expect_digest` when given), the artifact's shape and the layer digest.
pub fn pull(target: &Target, tag_or_digest: &str, expect_digest: Option<&str>) -> Result<Pulled> {
    runtime()?.block_on(pull_async(target, tag_or_digest, expect_digest))
}

pub async fn pull_async(
    target: &Target,
    tag_or_digest: &str,
    expect_digest: Option<&str>,
) -> Result<Pulled> {
    let reference = target.reference(tag_or_digest)?;
    let whole = reference.whole();
    let client = target.client();
    let auth = target.auth();
    let err = |e| target.error(e);

    let (manifest_bytes, registry_digest) = client
        .pull_manifest_raw(&reference, &auth, &[OCI_IMAGE_MEDIA_TYPE])
        .await
        .map_err(err)?;
    let digest = sha256_digest(&manifest_bytes);
    let expectations = [
        ("registry-reported manifest", Some(registry_digest.as_str())),
        ("manifest", expect_digest),
        ("manifest (requested by digest)", reference.digest()),
    ];
    for (what, expected) in expectations {
        if let Some(expected) = expected.filter(|e| *e != digest) {
            return Err(ReleaseError::DigestMismatch {
                what,
                expected: expected.to_string(),
                actual: digest,
            });
        }
    }

    let unexpected = |reason: String| ReleaseError::UnexpectedArtifact {
        reference: whole.clone(),
        reason,
    };
    let manifest: OciImageManifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| unexpected(format!("unreadable manifest: {e}")))?;
    if manifest.config.media_type != WASM_CONFIG_MEDIA_TYPE {
        return Err(unexpected(format!(
            "config media type is {}",
            manifest.config.media_type
        )));
    }
    let [layer] = manifest.layers.as_slice() else {
        return Err(unexpected(format!(
            "{} layers, expected 1",
            manifest.layers.len()
        )));
    };
    if layer.media_type != WASM_LAYER_MEDIA_TYPE {
        return Err(unexpected(format!(
            "layer media type is {}",
            layer.media_type
        )));
    }
    let module = pull_blob(&client, &reference, layer).await.map_err(err)?;
    // oci-client verifies the digest while streaming; checked again here so
    // the guarantee does not hang on a library detail.
    let layer_digest = sha256_digest(&module);
    if layer_digest != layer.digest {
        return Err(ReleaseError::DigestMismatch {
            what: "layer",
            expected: layer.digest.clone(),
            actual: layer_digest,
        });
    }
    Ok(Pulled {
        reference: whole,
        digest,
        manifest,
        module,
    })
}

impl Pulled {
    /// Fails unless the pulled module is byte for byte `local`.
    pub fn verify_module(&self, local: &[u8], local_path: &Path) -> Result<()> {
        if self.module == local {
            return Ok(());
        }
        Err(ReleaseError::ContentMismatch {
            reference: self.reference.clone(),
            pulled: self.module.len(),
            local: local.len(),
            local_path: local_path.to_path_buf(),
        })
    }
}

async fn pull_blob(
    client: &Client,
    reference: &Reference,
    layer: &OciDescriptor,
) -> std::result::Result<Vec<u8>, oci_client::errors::OciDistributionError> {
    let mut out = Vec::new();
    client.pull_blob(reference, layer, &mut out).await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            registry: "127.0.0.1:5000/".into(),
            repository: "policies/p".into(),
            insecure: true,
            credentials: None,
        }
    }

    #[test]
    fn references_by_tag_and_by_digest() -> Result<()> {
        assert_eq!(
            target().reference("v1.0.0")?.whole(),
            "127.0.0.1:5000/policies/p:v1.0.0"
        );
        let digest = sha256_digest(b"x");
        let by_digest = target().reference(&digest)?;
        assert_eq!(by_digest.digest(), Some(digest.as_str()));
        assert_eq!(by_digest.registry(), "127.0.0.1:5000");
        Ok(())
    }

    #[rstest::rstest]
    #[case("127.0.0.1:5000/policies/p:v1", Some(("127.0.0.1:5000", "policies/p", "v1")))]
    #[case("registry://127.0.0.1:5000/policies/p:v1", Some(("127.0.0.1:5000", "policies/p", "v1")))]
    #[case(
        "ghcr.io/o/policies/p@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        Some(("ghcr.io", "o/policies/p", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
    )]
    #[case("127.0.0.1:5000/policies/p", None)]
    #[case("p", None)]
    fn whole_references_name_a_tag_or_digest(
        #[case] text: &str,
        #[case] expected: Option<(&str, &str, &str)>,
    ) {
        let parsed = Target::from_reference(text, true, None)
            .ok()
            .map(|(t, v)| (t.registry, t.repository, v));
        let expected = expected.map(|(r, p, v)| (r.to_string(), p.to_string(), v.to_string()));
        assert_eq!(parsed, expected);
    }

    #[test]
    fn multi_line_annotations_stay_out_of_the_manifest() -> Result<()> {
        let metadata: Metadata = serde_json::from_str(
            r#"{"rules":[],"mutating":false,"annotations":{
                "io.kubewarden.policy.title":"t","io.kubewarden.policy.usage":"a\nb"}}"#,
        )
        .map_err(|source| ReleaseError::Json {
            what: "test",
            source,
        })?;
        let annotations = manifest_annotations(&metadata);
        assert_eq!(annotations["org.opencontainers.image.title"], "t");
        assert_eq!(annotations["io.kubewarden.policy.title"], "t");
        assert!(!annotations.contains_key("io.kubewarden.policy.usage"));
        Ok(())
    }

    #[test]
    fn digest_is_the_sha256_of_the_bytes() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn credentials_never_print_the_password() {
        let credentials = Credentials {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }
}
