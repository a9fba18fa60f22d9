//! Signing the pushed artifact and its SBOM in cosign's format, and
//! checking both, with the sigstore crate that kwctl and policy-server
//! verify with (0.13).
//!
//! In the registry, for an artifact with manifest digest `sha256:D`:
//! - `sha256-D.sig`: cosign's signature image, one simple-signing layer per
//!   signature (re-signing appends, as cosign does);
//! - `sha256-D.sbom`: the SPDX JSON, attached as `cosign attach sbom` does
//!   (one `text/spdx+json` layer; Debian's distribution 2.8 has no referrers
//!   API), its layer carrying the blob signature as an annotation;
//! - `sha256-S.sig`: the cosign signature of that SBOM manifest (digest S).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use oci_client::client::{Config, ImageLayer};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{OciImageManifest, OCI_IMAGE_MEDIA_TYPE};
use oci_client::Reference;
use sigstore::cosign::constraint::{AnnotationMarker, PrivateKeySigner, SignConstraintVec};
use sigstore::cosign::verification_constraint::{AnnotationVerifier, VerificationConstraintVec};
use sigstore::cosign::{
    apply_constraints, verify_constraints, ClientBuilder, CosignCapabilities, SignatureLayer,
};
use sigstore::crypto::signing_key::SigStoreSigner;
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};

use crate::error::{ReleaseError, Result};
use crate::keys::PublicKey;
use crate::oci::{self, sha256_digest, Credentials, Target};
use crate::project::{write_file_atomically, Project};
use crate::sbom;

/// `cosign attach sbom`'s media type for SPDX JSON.
pub const SBOM_MEDIA_TYPE: &str = "text/spdx+json";
/// The SBOM layer's annotation holding the blob signature (base64 DER, as
/// `cosign sign-blob` prints it), so `verify` checks the file's bytes too.
pub const SBOM_SIGNATURE_ANNOTATION: &str = "io.kubewarden.policy.sbom.signature";

/// What `sign` and `verify` act on.
#[derive(Debug, Clone)]
pub struct Subject {
    pub target: Target,
    /// The tag or `sha256:` digest the user named.
    pub version: String,
    /// The reference as the user wrote it, for messages.
    pub text: String,
}

impl Subject {
    pub fn parse(text: &str, insecure: bool, credentials: Option<Credentials>) -> Result<Subject> {
        let (target, version) = Target::from_reference(text, insecure, credentials)?;
        Ok(Subject {
            target,
            version,
            text: text.to_string(),
        })
    }

    fn auth(&self) -> Auth {
        match &self.target.credentials {
            Some(c) => Auth::Basic(c.username.clone(), c.password.clone()),
            None => Auth::Anonymous,
        }
    }

    fn cosign_client(&self) -> Result<sigstore::cosign::Client> {
        oci::install_crypto_provider();
        ClientBuilder::default()
            .with_oci_client_config(ClientConfig {
                protocol: if self.target.insecure {
                    ClientProtocol::Http
                } else {
                    ClientProtocol::Https
                },
                ..ClientConfig::default()
            })
            .build()
            .map_err(|e| self.sigstore_error("building the cosign client", e))
    }

    fn sigstore_error(&self, step: &str, error: sigstore::errors::SigstoreError) -> ReleaseError {
        ReleaseError::Cosign {
            reference: self.text.clone(),
            step: step.to_string(),
            reason: error.to_string(),
        }
    }

    fn with_tag(&self, tag: String) -> OciReference {
        OciReference::with_tag(
            self.target.registry.clone(),
            self.target.repository.clone(),
            tag,
        )
    }

    fn with_digest(&self, digest: &str) -> OciReference {
        OciReference::with_digest(
            self.target.registry.clone(),
            self.target.repository.clone(),
            digest.to_string(),
        )
    }
}

/// cosign's tag for what belongs to `digest`: `sha256-<hex>.<suffix>`.
pub fn attached_tag(digest: &str, suffix: &str) -> String {
    format!("{}.{suffix}", digest.replace(':', "-"))
}

/// What `sign` did.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The artifact's manifest digest, the one signed.
    pub digest: String,
    pub signature_tag: String,
    pub sbom_tag: String,
    pub sbom_digest: String,
    pub sbom_path: PathBuf,
    pub sbom_signature_path: PathBuf,
}

/// Everything `sign` needs, checked before any network traffic.
pub struct SignRequest<'a> {
    pub project: &'a Project,
    pub subject: Subject,
    pub signer: SigStoreSigner,
    /// `-a key=value`: written into the simple-signing payload's `optional`
    /// section, which `kwctl verify -a` and `verificationConfig` match.
    pub annotations: BTreeMap<String, String>,
    /// Where the SBOM and its signature go (target/sbom/ by default).
    pub sbom_dir: PathBuf,
}

/// Is this "the registry has no such manifest"?
fn not_found(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| matches!(e.code, OciErrorCode::ManifestUnknown)),
        OciDistributionError::ServerError { code, .. } => *code == 404,
        _ => false,
    }
}

/// The artifact's manifest digest, or a NoDigest error when the registry
/// has nothing under the reference.
async fn resolve(subject: &Subject) -> Result<String> {
    let reference = subject.target.reference(&subject.version)?;
    let client = subject.target.client();
    match client
        .fetch_manifest_digest(&reference, &subject.target.auth())
        .await
    {
        Ok(digest) => Ok(digest),
        Err(error) if not_found(&error) => Err(ReleaseError::NoDigest {
            reference: subject.text.clone(),
            reason: "the registry has no manifest under it".into(),
        }),
        // The registry's own error names only its host: say which
        // reference was being resolved.
        Err(error) => Err(ReleaseError::At {
            reference: subject.text.clone(),
            source: Box::new(subject.target.error(error)),
        }),
    }
}

pub fn sign(request: SignRequest<'_>) -> Result<Signed> {
    oci::runtime()?.block_on(sign_async(request))
}

pub async fn sign_async(request: SignRequest<'_>) -> Result<Signed> {
    let subject = &request.subject;
    let digest = resolve(subject).await?;
    // The module as the registry holds it: the SBOM describes those bytes.
    let pulled = oci::pull_async(&subject.target, &digest, Some(&digest)).await?;
    let document = sbom::generate(request.project, &pulled.module)?;
    let sbom_bytes = sbom::to_json(&document)?;
    let sbom_signature = request
        .signer
        .sign(&sbom_bytes)
        .map_err(|e| subject.sigstore_error("signing the SBOM", e))?;
    let sbom_signature_b64 = base64::engine::general_purpose::STANDARD.encode(&sbom_signature);

    let sbom_tag = attached_tag(&digest, "sbom");
    let sbom_digest = push_sbom(subject, &sbom_tag, &sbom_bytes, &sbom_signature_b64).await?;

    let mut client = subject.cosign_client()?;
    // The SBOM manifest first: an artifact signature is the last thing
    // written, so a signed artifact always has its signed SBOM beside it.
    sign_digest(
        &mut client,
        subject,
        &sbom_digest,
        &request.signer,
        &BTreeMap::new(),
    )
    .await?;
    let signature_tag = sign_digest(
        &mut client,
        subject,
        &digest,
        &request.signer,
        &request.annotations,
    )
    .await?;

    let sbom_path = request.sbom_dir.join(sbom::file_name(request.project));
    let sbom_signature_path = signature_path(&sbom_path);
    write_file_atomically(&sbom_path, &sbom_bytes)?;
    write_file_atomically(&sbom_signature_path, sbom_signature_b64.as_bytes())?;
    Ok(Signed {
        digest,
        signature_tag,
        sbom_tag,
        sbom_digest,
        sbom_path,
        sbom_signature_path,
    })
}

/// `<file>.sig`, as `cosign sign-blob --output-signature` is used.
pub fn signature_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// Pushes the SBOM image under `tag`; returns its manifest digest.
async fn push_sbom(subject: &Subject, tag: &str, sbom: &[u8], signature: &str) -> Result<String> {
    let target = &subject.target;
    let reference = target.reference(tag)?;
    let client = target.client();
    let err = |e| target.error(e);
    let annotations =
        BTreeMap::from([(SBOM_SIGNATURE_ANNOTATION.to_string(), signature.to_string())]);
    let layer = ImageLayer::new(sbom.to_vec(), SBOM_MEDIA_TYPE.into(), Some(annotations));
    let config = Config::oci_v1(b"{}".to_vec(), None);
    let mut manifest = OciImageManifest::build(std::slice::from_ref(&layer), &config, None);
    manifest.media_type = Some(OCI_IMAGE_MEDIA_TYPE.to_string());
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(|source| ReleaseError::Json {
        what: "SBOM manifest",
        source,
    })?;
    client
        .auth(
            &reference,
            &target.auth(),
            oci_client::RegistryOperation::Push,
        )
        .await
        .map_err(err)?;
    client
        .push_blob(&reference, &layer.data, &manifest.layers[0].digest)
        .await
        .map_err(err)?;
    client
        .push_blob(&reference, &config.data, &manifest.config.digest)
        .await
        .map_err(err)?;
    client
        .push_manifest_raw(
            &reference,
            manifest_bytes.clone(),
            http::HeaderValue::from_static(OCI_IMAGE_MEDIA_TYPE),
        )
        .await
        .map_err(err)?;
    Ok(sha256_digest(&manifest_bytes))
}

/// The signature layers already under `sig_tag`, to be kept: cosign
/// appends a signature. Refuses when a layer would not survive a re-push
/// (one carrying a certificate or a Rekor bundle, which this key-based
/// signer does not write back).
async fn existing_layers(
    client: &mut sigstore::cosign::Client,
    subject: &Subject,
    digest: &str,
    sig_tag: &str,
) -> Result<Vec<SignatureLayer>> {
    let target = &subject.target;
    let reference = target.reference(sig_tag)?;
    let manifest = match target
        .client()
        .pull_manifest_raw(&reference, &target.auth(), &[OCI_IMAGE_MEDIA_TYPE])
        .await
    {
        Ok((bytes, _)) => bytes,
        Err(error) if not_found(&error) => return Ok(Vec::new()),
        Err(error) => return Err(target.error(error)),
    };
    let manifest: OciImageManifest =
        serde_json::from_slice(&manifest).map_err(|e| ReleaseError::Cosign {
            reference: reference.whole(),
            step: "reading the existing signatures".into(),
            reason: e.to_string(),
        })?;
    let layers = client
        .trusted_signature_layers(&subject.auth(), digest, &subject.with_tag(sig_tag.into()))
        .await
        .map_err(|e| subject.sigstore_error("reading the existing signatures", e))?;
    let kept = layers.iter().all(|layer| {
        layer.certificate_signature.is_none()
            && layer.bundle.is_none()
            && layer.signature.is_some()
            && serde_json::to_vec(&layer.simple_signing).ok().as_ref() == Some(&layer.raw_data)
    });
    if layers.len() != manifest.layers.len() || !kept {
        return Err(ReleaseError::Cosign {
            reference: reference.whole(),
            step: "keeping the existing signatures".into(),
            reason: format!(
                "{} of its {} layers can be carried over unchanged (keyless or foreign \
                 signatures would be lost); sign with cosign itself",
                layers.len(),
                manifest.layers.len()
            ),
        });
    }
    Ok(layers)
}

/// Signs the manifest `digest` with `signer` and pushes the signature
/// image (existing signatures kept); returns the `.sig` tag.
async fn sign_digest(
    client: &mut sigstore::cosign::Client,
    subject: &Subject,
    digest: &str,
    signer: &SigStoreSigner,
    annotations: &BTreeMap<String, String>,
) -> Result<String> {
    let sig_tag = attached_tag(digest, "sig");
    let mut layers = existing_layers(client, subject, digest, &sig_tag).await?;
    let mut layer = SignatureLayer::new_unsigned(&subject.with_digest(digest), digest)
        .map_err(|e| subject.sigstore_error("building the signature payload", e))?;
    let mut constraints: SignConstraintVec = Vec::new();
    if !annotations.is_empty() {
        let marker: HashMap<String, String> = annotations.clone().into_iter().collect();
        constraints.push(Box::new(AnnotationMarker::new(marker)));
    }
    // Annotations first: the signer signs the payload as it is then.
    constraints.push(Box::new(PrivateKeySigner::new_with_signer(clone_signer(
        signer,
    )?)));
    apply_constraints(&mut layer, constraints.iter()).map_err(|e| ReleaseError::Cosign {
        reference: subject.text.clone(),
        step: "signing".into(),
        reason: e.to_string(),
    })?;
    layers.push(layer);
    client
        .push_signature(
            None,
            &subject.auth(),
            &subject.with_tag(sig_tag.clone()),
            layers,
        )
        .await
        .map_err(|e| subject.sigstore_error("pushing the signature", e))?;
    Ok(sig_tag)
}

/// PrivateKeySigner takes its signer by value; a signer is rebuilt from
/// its own key pair for each signature.
fn clone_signer(signer: &SigStoreSigner) -> Result<SigStoreSigner> {
    let fail = |e: sigstore::errors::SigstoreError| ReleaseError::Cosign {
        reference: String::new(),
        step: "preparing the signer".into(),
        reason: e.to_string(),
    };
    signer
        .to_sigstore_keypair()
        .and_then(|pair| {
            pair.to_sigstore_signer(&sigstore::crypto::SigningScheme::ECDSA_P256_SHA256_ASN1)
        })
        .map_err(fail)
}

/// The outcome of one check: what was verified, or why it failed.
pub type Check = std::result::Result<String, String>;

/// Both checks of `verify`.
#[derive(Debug, Clone)]
pub struct Verification {
    pub reference: String,
    pub digest: String,
    pub artifact: Check,
    pub sbom: Check,
}

impl Verification {
    /// Ok when both hold; otherwise an error naming the failed ones.
    pub fn into_result(self) -> Result<Verification> {
        let mut failed = Vec::new();
        if let Err(reason) = &self.artifact {
            failed.push(format!("the artifact's signature: {reason}"));
        }
        if let Err(reason) = &self.sbom {
            failed.push(format!("the SBOM's signature: {reason}"));
        }
        if failed.is_empty() {
            Ok(self)
        } else {
            Err(ReleaseError::VerificationFailed {
                reference: self.reference,
                failed: failed.join("; "),
            })
        }
    }
}

pub fn verify(
    subject: &Subject,
    key: &PublicKey,
    annotations: &BTreeMap<String, String>,
) -> Result<Verification> {
    oci::runtime()?.block_on(verify_async(subject, key, annotations))
}

/// Checks the artifact's cosign signature (by `key`, with `annotations`),
/// then the SBOM attached to it: its manifest's cosign signature, the blob
/// signature over its bytes, and that it describes the artifact's module.
/// A registry that cannot be reached is an error; a failed check is
/// reported in the Verification.
pub async fn verify_async(
    subject: &Subject,
    key: &PublicKey,
    annotations: &BTreeMap<String, String>,
) -> Result<Verification> {
    let digest = resolve(subject).await?;
    let mut client = subject.cosign_client()?;
    let mut constraints: VerificationConstraintVec = vec![Box::new(key.verifier()?)];
    if !annotations.is_empty() {
        constraints.push(Box::new(AnnotationVerifier {
            annotations: annotations.clone(),
        }));
    }
    let artifact = check_signed(&mut client, subject, &digest, &constraints, key)
        .await
        .map(|count| {
            format!(
                "{digest} is signed by {} ({count} signature(s) found)",
                key.path.display()
            )
        });

    let sbom = check_sbom(&mut client, subject, &digest, key).await;
    Ok(Verification {
        reference: subject.text.clone(),
        digest,
        artifact,
        sbom,
    })
}

/// Some signature under `digest`'s `.sig` tag satisfies every constraint;
/// returns how many signature layers there were.
async fn check_signed(
    client: &mut sigstore::cosign::Client,
    subject: &Subject,
    digest: &str,
    constraints: &VerificationConstraintVec,
    key: &PublicKey,
) -> std::result::Result<usize, String> {
    let sig_tag = attached_tag(digest, "sig");
    let layers = client
        .trusted_signature_layers(&subject.auth(), digest, &subject.with_tag(sig_tag.clone()))
        .await
        .map_err(|e| format!("no signature found under {sig_tag} ({e})"))?;
    verify_constraints(&layers, constraints.iter()).map_err(|e| {
        format!(
            "none of the {} signature(s) under {sig_tag} is by {} with the required annotations ({e})",
            layers.len(),
            key.path.display()
        )
    })?;
    Ok(layers.len())
}

async fn check_sbom(
    client: &mut sigstore::cosign::Client,
    subject: &Subject,
    digest: &str,
    key: &PublicKey,
) -> Check {
    let target = &subject.target;
    let sbom_tag = attached_tag(digest, "sbom");
    let reference: Reference = target.reference(&sbom_tag).map_err(|e| e.to_string())?;
    let oci = target.client();
    let (manifest_bytes, _) = oci
        .pull_manifest_raw(&reference, &target.auth(), &[OCI_IMAGE_MEDIA_TYPE])
        .await
        .map_err(|e| format!("no SBOM attached under {sbom_tag} ({e})"))?;
    let sbom_digest = sha256_digest(&manifest_bytes);
    let constraints: VerificationConstraintVec =
        vec![Box::new(key.verifier().map_err(|e| e.to_string())?)];
    check_signed(client, subject, &sbom_digest, &constraints, key)
        .await
        .map_err(|e| format!("the SBOM manifest {sbom_digest}: {e}"))?;

    let manifest: OciImageManifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| format!("unreadable SBOM manifest: {e}"))?;
    let [layer] = manifest.layers.as_slice() else {
        return Err(format!(
            "the SBOM image has {} layers, expected 1",
            manifest.layers.len()
        ));
    };
    let mut bytes = Vec::new();
    oci.pull_blob(&reference, layer, &mut bytes)
        .await
        .map_err(|e| format!("cannot pull the SBOM: {e}"))?;
    let signature = layer
        .annotations
        .as_ref()
        .and_then(|a| a.get(SBOM_SIGNATURE_ANNOTATION))
        .ok_or_else(|| format!("the SBOM layer has no {SBOM_SIGNATURE_ANNOTATION} annotation"))?;
    <sigstore::cosign::Client as CosignCapabilities>::verify_blob_with_public_key(
        &key.pem, signature, &bytes,
    )
    .map_err(|e| {
        format!(
            "the SBOM's blob signature does not verify with {}: {e}",
            key.path.display()
        )
    })?;

    // The SBOM must describe the module this artifact carries.
    let (artifact_manifest, _) = oci
        .pull_manifest_raw(
            &target.reference(digest).map_err(|e| e.to_string())?,
            &target.auth(),
            &[OCI_IMAGE_MEDIA_TYPE],
        )
        .await
        .map_err(|e| format!("cannot read the artifact's manifest: {e}"))?;
    let artifact_manifest: OciImageManifest = serde_json::from_slice(&artifact_manifest)
        .map_err(|e| format!("unreadable artifact manifest: {e}"))?;
    let module_digest = artifact_manifest
        .layers
        .first()
        .map(|l| l.digest.clone())
        .unwrap_or_default();
    let described = sbom::described_sha256(&bytes).map_err(|e| e.to_string())?;
    if format!("sha256:{described}") != module_digest {
        return Err(format!(
            "the SBOM describes a module with sha256 {described}, the artifact carries {module_digest}"
        ));
    }
    Ok(format!(
        "SBOM {sbom_digest} ({} bytes) is signed by {} and describes {module_digest}",
        bytes.len(),
        key.path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("sha256:abc", "sig", "sha256-abc.sig")]
    #[case("sha256:abc", "sbom", "sha256-abc.sbom")]
    fn attached_tags_follow_cosign(#[case] digest: &str, #[case] suffix: &str, #[case] tag: &str) {
        assert_eq!(attached_tag(digest, suffix), tag);
    }

    #[test]
    fn the_blob_signature_sits_beside_the_file() {
        assert_eq!(
            signature_path(Path::new("target/sbom/p.spdx.json")),
            Path::new("target/sbom/p.spdx.json.sig")
        );
    }
}
