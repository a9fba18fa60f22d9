//! The SBOM `policy-release sign` writes: exactly the crates `cargo tree`
//! says are compiled into the module, accepted by an independent SPDX
//! validator (pyspdxtools, from PyPI's spdx-tools), its blob signature
//! checked by openssl over the cosign public key; and a changed byte fails
//! both the signature and, where it breaks the document, the validator.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use common::signing::{command_exists, output, KeyPair, World};
use common::{annotated_module, project, run_bounded};
use policy_release::sbom::{self, MODULE_TARGET};
use rstest::rstest;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(600);

/// `cargo tree`'s view of the module: `name vVERSION` of every crate the
/// policy crate pulls in along normal edges, for its target.
fn cargo_tree_packages() -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let (ok, stdout, stderr) = run_bounded(
        Command::new(cargo)
            .current_dir(project().root)
            .args(["tree", "-p", &project().name, "-e", "normal"])
            .args(["--target", MODULE_TARGET, "--prefix", "none", "-f", "{p}"]),
        LIMIT,
    );
    assert!(ok, "cargo tree failed:\n{}", output(&stdout, &stderr));
    stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            Some(format!("{} {}", words.next()?, words.next()?))
        })
        .collect()
}

/// pyspdxtools, installed from PyPI (spdx-tools) into a virtualenv under
/// the target folder once; the same for every machine.
fn pyspdxtools() -> &'static Path {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("spdx-tools-venv");
        let tool = venv.join("bin/pyspdxtools");
        if tool.exists() {
            return tool;
        }
        assert!(
            command_exists("python3"),
            "python3 is needed for pyspdxtools"
        );
        let (ok, stdout, stderr) = run_bounded(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            LIMIT,
        );
        assert!(ok, "python3 -m venv failed:\n{}", output(&stdout, &stderr));
        let (ok, stdout, stderr) = run_bounded(
            Command::new(venv.join("bin/pip")).args(["install", "--quiet", "spdx-tools==0.8.5"]),
            LIMIT,
        );
        assert!(
            ok,
            "pip install spdx-tools failed:\n{}",
            output(&stdout, &stderr)
        );
        tool
    })
}

/// (valid, output) of `pyspdxtools -i FILE`.
fn validate(file: &Path) -> (bool, String) {
    let (ok, stdout, stderr) =
        run_bounded(Command::new(pyspdxtools()).arg("--infile").arg(file), LIMIT);
    (ok, output(&stdout, &stderr))
}

/// (verified, output) of `openssl dgst -sha256 -verify PUB -signature DER FILE`.
fn openssl_verify(public: &Path, signature_b64: &Path, file: &Path, dir: &Path) -> (bool, String) {
    let text = std::fs::read_to_string(signature_b64).expect("the .sig file");
    let der = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .expect("the .sig file is base64");
    let der_path = dir.join("signature.der");
    std::fs::write(&der_path, der).expect("write the DER signature");
    let (ok, stdout, stderr) = run_bounded(
        Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(public)
            .arg("-signature")
            .arg(&der_path)
            .arg(file),
        LIMIT,
    );
    (
        ok && stdout.contains("Verified OK"),
        output(&stdout, &stderr),
    )
}

/// A world with the release pushed and signed; the SBOM files `sign` wrote.
struct Signed {
    world: World,
    key: KeyPair,
    sbom: PathBuf,
    signature: PathBuf,
}

fn signed() -> Signed {
    let world = World::new();
    let key = KeyPair::generate();
    let reference = world.reference("v1");
    world.push_release("v1");
    world.sign_ok(&key.private(), &[], &reference);
    let sbom = world.sbom_dir().join(sbom::file_name(&project()));
    let signature = policy_release::signing::signature_path(&sbom);
    assert!(sbom.exists() && signature.exists(), "sign wrote no SBOM");
    Signed {
        world,
        key,
        sbom,
        signature,
    }
}

#[test]
fn the_sbom_lists_exactly_what_cargo_tree_compiles_in() {
    let crates = sbom::module_crates(&project()).expect("the module's crates");
    let listed: BTreeSet<String> = crates
        .iter()
        .map(|c| format!("{} v{}", c.name, c.version))
        .collect();
    assert_eq!(listed.len(), crates.len(), "a crate is listed twice");
    let tree = cargo_tree_packages();
    let only_sbom: Vec<_> = listed.difference(&tree).collect();
    let only_tree: Vec<_> = tree.difference(&listed).collect();
    assert!(
        only_sbom.is_empty() && only_tree.is_empty(),
        "SBOM only: {only_sbom:?}\ncargo tree only: {only_tree:?}"
    );
    // Nothing of the workspace's tools or tests.
    for absent in ["wasmtime", "policy-harness", "rstest", "clap", "sigstore"] {
        assert!(
            !crates.iter().any(|c| c.name == absent),
            "{absent} is listed"
        );
    }
}

#[test]
fn the_signed_sbom_is_valid_spdx_and_describes_the_pushed_module() {
    let signed = signed();
    let (valid, out) = validate(&signed.sbom);
    assert!(valid, "pyspdxtools refused the SBOM:\n{out}");
    let (verified, out) = openssl_verify(
        &signed.key.public(),
        &signed.signature,
        &signed.sbom,
        signed.world.dir.path(),
    );
    assert!(verified, "openssl refused the SBOM's signature:\n{out}");

    let document: Value =
        serde_json::from_slice(&std::fs::read(&signed.sbom).expect("SBOM")).expect("JSON");
    assert_eq!(document["spdxVersion"], "SPDX-2.3");
    let packages = document["packages"].as_array().expect("packages");
    let described = document["documentDescribes"][0]
        .as_str()
        .expect("described");
    let module = packages
        .iter()
        .find(|p| p["SPDXID"] == described)
        .expect("the described package");
    let module_sha256 = policy_release::oci::sha256_digest(annotated_module());
    assert_eq!(
        format!(
            "sha256:{}",
            module["checksums"][0]["checksumValue"]
                .as_str()
                .unwrap_or("")
        ),
        module_sha256
    );
    // One package per crate of cargo tree, plus the module.
    assert_eq!(packages.len(), cargo_tree_packages().len() + 1);
    for package in packages.iter().filter(|p| p["SPDXID"] != described) {
        let name = package["name"].as_str().unwrap_or_default();
        let version = package["versionInfo"].as_str().unwrap_or_default();
        let location = package["downloadLocation"].as_str().unwrap_or_default();
        if name == project().name {
            continue; // the policy crate: a path dependency, no download
        }
        assert_eq!(
            location,
            format!("https://crates.io/api/v1/crates/{name}/{version}/download")
        );
        assert_eq!(package["checksums"][0]["algorithm"], "SHA256", "{package}");
        assert_eq!(
            package["checksums"][0]["checksumValue"]
                .as_str()
                .map(str::len),
            Some(64),
            "{package}"
        );
        assert!(
            !package["licenseDeclared"]
                .as_str()
                .unwrap_or("/")
                .contains('/'),
            "{package}"
        );
    }
}

/// What a changed byte does.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// A hex digit of a checksum: still a valid document, no longer the
    /// signed bytes.
    ChecksumDigit,
    /// The version string: an invalid document and not the signed bytes.
    SpdxVersion,
}

#[rstest]
#[case::checksum_digit(Change::ChecksumDigit, true)]
#[case::spdx_version(Change::SpdxVersion, false)]
fn a_changed_byte_fails_the_signature(#[case] change: Change, #[case] still_valid: bool) {
    let signed = signed();
    let mut bytes = std::fs::read(&signed.sbom).expect("SBOM");
    let text = String::from_utf8(bytes.clone()).expect("UTF-8");
    let at = match change {
        Change::ChecksumDigit => text.find("\"checksumValue\": \"").expect("a checksum") + 18,
        Change::SpdxVersion => text.find("SPDX-2.3").expect("the version") + 7,
    };
    bytes[at] = match (change, bytes[at]) {
        (Change::ChecksumDigit, b'0') => b'1',
        (Change::ChecksumDigit, _) => b'0',
        (Change::SpdxVersion, _) => b'9',
    };
    assert_ne!(bytes, text.as_bytes(), "nothing changed");
    let changed = signed.world.dir.path().join("changed.spdx.json");
    std::fs::write(&changed, &bytes).expect("write the changed SBOM");

    let (verified, out) = openssl_verify(
        &signed.key.public(),
        &signed.signature,
        &changed,
        signed.world.dir.path(),
    );
    assert!(
        !verified,
        "openssl accepted a changed SBOM ({change:?}):\n{out}"
    );
    let (valid, out) = validate(&changed);
    assert_eq!(valid, still_valid, "pyspdxtools on {change:?}:\n{out}");
    // The untouched file still verifies: the failure is the change's.
    let (verified, out) = openssl_verify(
        &signed.key.public(),
        &signed.signature,
        &signed.sbom,
        signed.world.dir.path(),
    );
    assert!(verified, "{out}");
}

/// `push` writes the SBOM too, under target/sbom/.
#[test]
fn push_writes_the_sbom() {
    let world = World::new();
    world.push_release("v1");
    let path = project().sbom_dir().join(sbom::file_name(&project()));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        format!(
            "sha256:{}",
            sbom::described_sha256(&bytes).expect("described sha256")
        ),
        policy_release::oci::sha256_digest(annotated_module())
    );
}
