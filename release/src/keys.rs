//! Cosign key pairs: `keygen` writes one as `cosign generate-key-pair`
//! does, and `sign`/`verify` read them back, all through the sigstore
//! crate (the scrypt + secretbox encryption of `cosign.key` is its own).

use std::path::{Path, PathBuf};

use sigstore::cosign::verification_constraint::PublicKeyVerifier;
use sigstore::crypto::signing_key::ecdsa::{ECDSAKeys, EllipticCurve};
use sigstore::crypto::signing_key::{
    kdf, SigStoreKeyPair, SigStoreSigner, COSIGN_PRIVATE_KEY_PEM_LABEL,
    SIGSTORE_PRIVATE_KEY_PEM_LABEL,
};
use sigstore::crypto::{CosignVerificationKey, SigningScheme};

use crate::error::{ReleaseError, Result};
use crate::project::read;

/// A loaded signing key (ECDSA P-256, SHA-256).
pub type Signer = SigStoreSigner;

/// Where cosign reads the key's password from.
pub const PASSWORD_ENV: &str = "COSIGN_PASSWORD";
/// Cosign's file names.
pub const PRIVATE_KEY_FILE: &str = "cosign.key";
pub const PUBLIC_KEY_FILE: &str = "cosign.pub";

/// The files `keygen` wrote.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    pub private_key: PathBuf,
    pub public_key: PathBuf,
}

fn key_error(path: &Path, reason: impl Into<String>) -> ReleaseError {
    ReleaseError::Key {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Writes a new ECDSA P-256 pair into `dir`: `cosign.key` encrypted with
/// `password`, `cosign.pub` in the clear. Refuses to overwrite either file
/// (a lost private key cannot be recovered), and writes both or neither.
pub fn generate(dir: &Path, password: &[u8]) -> Result<KeyFiles> {
    let files = KeyFiles {
        private_key: dir.join(PRIVATE_KEY_FILE),
        public_key: dir.join(PUBLIC_KEY_FILE),
    };
    for path in [&files.private_key, &files.public_key] {
        if path.exists() {
            return Err(key_error(
                path,
                "already exists; move it away first (keygen never overwrites a key)",
            ));
        }
    }
    let sigstore = |path: &Path| {
        let path = path.to_path_buf();
        move |e: sigstore::errors::SigstoreError| key_error(&path, e.to_string())
    };
    let pair = SigStoreKeyPair::ECDSA(
        ECDSAKeys::new(EllipticCurve::P256).map_err(sigstore(&files.private_key))?,
    );
    let private_pem = pair
        .private_key_to_encrypted_pem(password)
        .map_err(sigstore(&files.private_key))?;
    let public_pem = pair
        .public_key_to_pem()
        .map_err(sigstore(&files.public_key))?;
    write_new(&files.private_key, private_pem.as_bytes(), 0o600)?;
    if let Err(error) = write_new(&files.public_key, public_pem.as_bytes(), 0o644) {
        // Both or neither: a private key without its public half is useless.
        let _ = std::fs::remove_file(&files.private_key);
        return Err(error);
    }
    Ok(files)
}

/// Creates `path` (failing if it exists) with `mode`, through a temporary
/// file in the same folder so that no half-written key is ever seen.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let wrap = |source| ReleaseError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(wrap)?;
    file.write_all(bytes).map_err(wrap)?;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(wrap)?;
    file.persist_noclobber(path).map_err(|e| wrap(e.error))?;
    Ok(())
}

/// Reads a cosign private key, telling apart the ways it can be wrong: a
/// missing file, a file that is not an encrypted cosign key, a wrong
/// password, a key that is not ECDSA P-256.
pub fn load_signer(path: &Path, password: &[u8]) -> Result<SigStoreSigner> {
    if !path.exists() {
        return Err(key_error(
            path,
            "no such key file (make one with `policy-release keygen`)",
        ));
    }
    let text = read(path)?;
    let block =
        pem::parse(&text).map_err(|e| key_error(path, format!("not a PEM key file: {e}")))?;
    if ![COSIGN_PRIVATE_KEY_PEM_LABEL, SIGSTORE_PRIVATE_KEY_PEM_LABEL].contains(&block.tag()) {
        return Err(key_error(
            path,
            format!(
                "a `{}` PEM block is not a cosign private key (expected `{SIGSTORE_PRIVATE_KEY_PEM_LABEL}`)",
                block.tag()
            ),
        ));
    }
    // Decrypting first separates a wrong password (the secretbox does not
    // open) from a key of another kind (it opens, but is not P-256).
    let der = kdf::decrypt(block.contents(), password).map_err(|_| {
        key_error(
            path,
            format!("wrong password: the key does not decrypt with ${PASSWORD_ENV}"),
        )
    })?;
    let pair = SigStoreKeyPair::from_der(&der)
        .map_err(|e| key_error(path, format!("unreadable private key: {e}")))?;
    match &pair {
        SigStoreKeyPair::ECDSA(ECDSAKeys::P256(_)) => {}
        SigStoreKeyPair::ECDSA(other) => {
            return Err(key_error(
                path,
                format!("the key is {other}; cosign signatures here are ECDSA P-256"),
            ))
        }
        other => {
            return Err(key_error(
                path,
                format!("the key is an {other}; cosign signatures here are ECDSA P-256"),
            ))
        }
    }
    pair.to_sigstore_signer(&SigningScheme::ECDSA_P256_SHA256_ASN1)
        .map_err(|e| key_error(path, e.to_string()))
}

/// The password from `$COSIGN_PASSWORD` (cosign's variable), or an error
/// naming `path`, the key it is for.
pub fn password_from_env(path: &Path) -> Result<Vec<u8>> {
    match std::env::var_os(PASSWORD_ENV) {
        Some(value) => Ok(value.into_encoded_bytes()),
        None => Err(key_error(
            path,
            format!("set ${PASSWORD_ENV} to the key's password"),
        )),
    }
}

/// A public key PEM (`cosign.pub`), P-256 only.
pub struct PublicKey {
    pub path: PathBuf,
    pub pem: String,
    pub key: CosignVerificationKey,
}

impl PublicKey {
    pub fn load(path: &Path) -> Result<PublicKey> {
        if !path.exists() {
            return Err(key_error(path, "no such public key file"));
        }
        let bytes = read(path)?;
        let pem = String::from_utf8(bytes)
            .map_err(|_| key_error(path, "not a PEM public key (not text)"))?;
        let key =
            CosignVerificationKey::from_pem(pem.as_bytes(), &SigningScheme::ECDSA_P256_SHA256_ASN1)
                .map_err(|e| key_error(path, format!("not an ECDSA P-256 public key PEM: {e}")))?;
        Ok(PublicKey {
            path: path.to_path_buf(),
            pem,
            key,
        })
    }

    /// The cosign constraint: a signature layer made with this key.
    pub fn verifier(&self) -> Result<PublicKeyVerifier> {
        PublicKeyVerifier::new(self.pem.as_bytes(), &SigningScheme::ECDSA_P256_SHA256_ASN1)
            .map_err(|e| key_error(&self.path, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_pair_signs_and_verifies() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|source| ReleaseError::Write {
            path: "tempdir".into(),
            source,
        })?;
        let files = generate(dir.path(), b"pw")?;
        let signer = load_signer(&files.private_key, b"pw")?;
        let public = PublicKey::load(&files.public_key)?;
        let signature = signer
            .sign(b"blob")
            .map_err(|e| key_error(&files.private_key, e.to_string()))?;
        assert!(public
            .key
            .verify_signature(sigstore::crypto::Signature::Raw(&signature), b"blob")
            .is_ok());
        assert!(public
            .key
            .verify_signature(sigstore::crypto::Signature::Raw(&signature), b"blub")
            .is_err());
        // A second keygen leaves the first pair alone.
        let before = std::fs::read(&files.private_key).map_err(|source| ReleaseError::Read {
            path: files.private_key.clone(),
            source,
        })?;
        assert!(generate(dir.path(), b"other").is_err());
        let after = std::fs::read(&files.private_key).map_err(|source| ReleaseError::Read {
            path: files.private_key.clone(),
            source,
        })?;
        assert_eq!(before, after);
        Ok(())
    }
}
