//! Signing on Kubewarden's own engine: artifacts pushed and signed by
//! `policy-release` to a loopback registry, checked by kwctl 1.35 (`verify`
//! and `pull` with `--verification-key`), by policy-server 1.35 with a
//! `pubKey` verificationConfig, and by `policy-release verify`; then every
//! bad input `sign` must refuse without leaving anything half-done.
//!
//! kwctl and policy-server run offline with `--sigstore-trust-config`: a
//! ClientTrustConfig from the trusted_root.json the sigstore crate ships.

mod common;

use std::path::Path;
use std::time::Duration;

use common::engine::binaries;
use common::signing::{files_in, other_module, output, trust_config, KeyPair, World, PASSWORD};
use common::{annotated_module, project, release_binary, run_bounded};
use policy_release::annotate::embedded_metadata;
use policy_release::engine::{policies_file, PolicyServer, PolicyServerConfig};
use rstest::rstest;

const LIMIT: Duration = Duration::from_secs(300);

/// How the artifact under test was published.
#[derive(Debug, Clone, Copy)]
enum Published {
    /// Pushed and signed with the key kwctl is given.
    Signed,
    /// Pushed, never signed.
    Unsigned,
    /// Signed with another key only.
    OtherKey,
    /// Signed, then the tag re-pushed with other bytes.
    Repushed,
    /// Signed with `-a env=prod`.
    Annotated,
}

/// Publishes the release module under `tag` as `how` says; returns the
/// tag's reference.
fn publish(world: &World, key: &KeyPair, how: Published, tag: &str) -> String {
    let reference = world.reference(tag);
    world.push_release(tag);
    match how {
        Published::Signed => world.sign_ok(&key.private(), &[], &reference),
        Published::Unsigned => {}
        Published::OtherKey => world.sign_ok(&KeyPair::generate().private(), &[], &reference),
        Published::Repushed => {
            world.sign_ok(&key.private(), &[], &reference);
            world.push(&other_module(), tag);
        }
        Published::Annotated => world.sign_ok(&key.private(), &["env=prod"], &reference),
    }
    reference
}

/// `kwctl verify` or `kwctl pull` with `--verification-key`; returns
/// (success, combined output).
fn kwctl(
    world: &World,
    subcommand: &str,
    key: &Path,
    annotations: &[&str],
    reference: &str,
) -> (bool, String) {
    let home = world.dir.path().join("kwctl-home");
    std::fs::create_dir_all(&home).expect("kwctl home");
    let mut command = std::process::Command::new(&binaries().kwctl);
    command
        .arg(subcommand)
        .arg("--verification-key")
        .arg(key)
        .arg("--sigstore-trust-config")
        .arg(trust_config())
        .arg("--sources-path")
        .arg(world.sources())
        // kwctl's store and caches stay in this test's folder.
        .env("HOME", &home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("NO_COLOR", "1");
    for annotation in annotations {
        command.args(["--verification-annotation", annotation]);
    }
    if subcommand == "pull" {
        command
            .arg("--output-path")
            .arg(world.dir.path().join("pulled.wasm"));
    }
    command.arg(format!("registry://{reference}"));
    let (ok, stdout, stderr) = run_bounded(&mut command, LIMIT);
    (ok, output(&stdout, &stderr))
}

/// kwctl accepts exactly what was signed with its key (and annotations);
/// `policy-release verify` agrees on each.
#[rstest]
#[case::signed(Published::Signed, &[], None)]
#[case::signed_with_matching_annotation(Published::Annotated, &["env=prod"], None)]
#[case::unsigned(Published::Unsigned, &[], Some("no signatures found"))]
#[case::signed_with_another_key(Published::OtherKey, &[], Some("not satisfied"))]
#[case::tag_repushed_after_signing(Published::Repushed, &[], Some("no signatures found"))]
#[case::annotation_mismatch(Published::Annotated, &["env=staging"], Some("not satisfied"))]
fn kwctl_verify_and_pull(
    #[case] how: Published,
    #[case] annotations: &[&str],
    #[case] refused_with: Option<&str>,
) {
    let world = World::new();
    let key = KeyPair::generate();
    let reference = publish(&world, &key, how, "v1");
    for subcommand in ["verify", "pull"] {
        let (ok, out) = kwctl(&world, subcommand, &key.public(), annotations, &reference);
        match refused_with {
            None => assert!(ok, "kwctl {subcommand} refused {how:?}:\n{out}"),
            Some(text) => {
                assert!(!ok, "kwctl {subcommand} accepted {how:?}:\n{out}");
                assert!(
                    out.to_lowercase().contains(text),
                    "kwctl {subcommand} on {how:?}: no {text:?} in:\n{out}"
                );
            }
        }
    }
    if refused_with.is_none() {
        let pulled = std::fs::read(world.dir.path().join("pulled.wasm")).expect("pulled module");
        assert_eq!(pulled, annotated_module(), "kwctl pulled other bytes");
    }
    let (ok, stdout, stderr) = world.verify(&key.public(), annotations, &reference);
    assert_eq!(
        ok,
        refused_with.is_none(),
        "policy-release verify disagrees with kwctl on {how:?}:\n{}",
        output(&stdout, &stderr)
    );
    if !ok {
        assert!(
            stderr.contains("the artifact's signature"),
            "{}",
            output(&stdout, &stderr)
        );
    }
}

/// Re-signing keeps the earlier signature, as cosign appends: both keys
/// verify afterwards.
#[test]
fn resigning_keeps_existing_signatures() {
    let world = World::new();
    let (first, second) = (KeyPair::generate(), KeyPair::generate());
    let reference = publish(&world, &first, Published::Signed, "v1");
    world.sign_ok(&second.private(), &[], &reference);
    for key in [&first, &second] {
        let (ok, out) = kwctl(&world, "verify", &key.public(), &[], &reference);
        assert!(ok, "kwctl verify with {}:\n{out}", key.public().display());
    }
}

/// `policy-release verify` names which signature failed: after a re-sign
/// with another key, the SBOM attached is the other key's while the
/// artifact still carries the first key's signature.
#[test]
fn verify_says_which_signature_failed() {
    let world = World::new();
    let (first, second) = (KeyPair::generate(), KeyPair::generate());
    let reference = publish(&world, &first, Published::Signed, "v1");
    let (ok, stdout, stderr) = world.verify(&first.public(), &[], &reference);
    assert!(ok, "{}", output(&stdout, &stderr));
    assert!(
        stdout.contains("artifact: ok") && stdout.contains("SBOM: ok"),
        "{stdout}"
    );

    world.sign_ok(&second.private(), &[], &reference);
    let (ok, stdout, stderr) = world.verify(&first.public(), &[], &reference);
    assert!(!ok, "{}", output(&stdout, &stderr));
    assert!(stdout.contains("artifact: ok"), "{stdout}");
    assert!(stdout.contains("SBOM: FAILED"), "{stdout}");
    assert!(stderr.contains("the SBOM's signature"), "{stderr}");
    assert!(!stderr.contains("the artifact's signature"), "{stderr}");
}

/// policy-server 1.35 with `allOf: [{kind: pubKey}]` loads the signed
/// module and answers with it; the unsigned one stops it from starting,
/// with a log line saying why.
#[rstest]
#[case::signed(Published::Signed, None)]
#[case::unsigned(Published::Unsigned, Some("no signatures found"))]
fn policy_server_with_verification_config(
    #[case] how: Published,
    #[case] refused_with: Option<&str>,
) {
    let world = World::new();
    let key = KeyPair::generate();
    let reference = publish(&world, &key, how, "v1");
    let public = std::fs::read_to_string(key.public()).expect("public key");
    let verification = policy_yaml_verification_config(&public);
    let verification_path = world.dir.path().join("verification.yml");
    std::fs::write(&verification_path, verification).expect("write the verification config");
    let metadata = embedded_metadata(annotated_module(), "annotated module").expect("metadata");
    let policies = policies_file(&project(), &format!("registry://{reference}"), &metadata)
        .expect("policies.yml");
    let started = PolicyServer::start_with_args(
        PolicyServerConfig {
            binary: binaries().policy_server.clone(),
            policies,
            insecure_sources: vec![world.registry.address.clone()],
            env: vec![],
            workers: Some(1),
        },
        vec![
            "--verification-path".into(),
            verification_path.into(),
            "--sigstore-trust-config".into(),
            trust_config().into(),
        ],
        1,
    );
    match (refused_with, started) {
        (None, Ok(server)) => {
            let review =
                common::engine::review(&common::engine::object("pod-inject-true"), "CREATE");
            let answer = post(
                &server,
                "/validate/clusterwide-linkerd-ha-mutating",
                &review,
            );
            let message = answer["response"]["status"]["message"]
                .as_str()
                .unwrap_or("");
            assert!(
                answer["response"]["allowed"] == false && message.contains("injectionAnnotation"),
                "the signed policy should reject this pod: {answer}\n{}",
                server.log()
            );
        }
        (None, Err(error)) => panic!("policy-server refused the signed module: {error}"),
        (Some(_), Ok(server)) => {
            panic!(
                "policy-server loaded the unsigned module:\n{}",
                server.log()
            )
        }
        (Some(text), Err(error)) => {
            let log = error.to_string();
            let line = log
                .lines()
                .find(|line| line.contains(text))
                .unwrap_or_else(|| panic!("no log line with {text:?}:\n{log}"));
            assert!(line.contains("cannot be verified"), "{line}");
        }
    }
}

/// The verification config policy.yaml shows (commented out, in the
/// ConfigMap its PolicyServer names), with `public` as the key: what a
/// user who follows policy.yaml gives policy-server.
fn policy_yaml_verification_config(public: &str) -> String {
    let text = std::fs::read_to_string(project().policy_yaml_path()).expect("policy.yaml");
    let named = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("# verificationConfig:"))
        .expect("policy.yaml's PolicyServer names a verificationConfig")
        .trim()
        .to_string();
    let config_map: String = text
        .lines()
        .skip_while(|line| *line != "# ---")
        .skip(1)
        .take_while(|line| line.starts_with('#'))
        .map(|line| format!("{}\n", line.strip_prefix("# ").unwrap_or("")))
        .collect();
    let config_map: serde_json::Value =
        serde_yaml_ng::from_str(&config_map).expect("the commented ConfigMap is YAML");
    assert_eq!(config_map["kind"], "ConfigMap");
    assert_eq!(config_map["metadata"]["name"], named.as_str());
    let mut config: serde_json::Value = serde_yaml_ng::from_str(
        config_map["data"]["verification-config"]
            .as_str()
            .expect("data.verification-config"),
    )
    .expect("the verification config is YAML");
    assert_eq!(config["allOf"][0]["kind"], "pubKey");
    config["allOf"][0]["key"] = serde_json::Value::String(public.to_string());
    serde_yaml_ng::to_string(&config).expect("verification config")
}

fn post(server: &PolicyServer, path: &str, body: &serde_json::Value) -> serde_json::Value {
    policy_release::oci::install_crypto_provider();
    let url = format!("{}{path}", server.base_url());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let response = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client")
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}\n{}", server.log()));
        let bytes = response.bytes().await.expect("body");
        serde_json::from_slice(&bytes).expect("a JSON answer")
    })
}

/// A cosign-format private key of another curve, as cosign would write it.
fn p384_key(dir: &Path) -> std::path::PathBuf {
    use sigstore::crypto::signing_key::ecdsa::{ECDSAKeys, EllipticCurve};
    use sigstore::crypto::signing_key::SigStoreKeyPair;
    let pair = SigStoreKeyPair::ECDSA(ECDSAKeys::new(EllipticCurve::P384).expect("P-384 key"));
    let pem = pair
        .private_key_to_encrypted_pem(PASSWORD.as_bytes())
        .expect("encrypted PEM");
    let path = dir.join("p384.key");
    std::fs::write(&path, pem.as_bytes()).expect("write the key");
    path
}

#[derive(Debug, Clone, Copy)]
enum Bad {
    WrongPassword,
    NotP256,
    MissingKey,
    UnreachableRegistry,
    NoTagNoDigest,
    UnknownTag,
}

/// Each bad input is refused with a message naming the file or reference,
/// and leaves no SBOM file and no signature behind.
#[rstest]
#[case::wrong_password(Bad::WrongPassword, "wrong password")]
#[case::key_not_p256(Bad::NotP256, "ECDSA P384")]
#[case::missing_key_file(Bad::MissingKey, "no such key file")]
#[case::unreachable_registry(Bad::UnreachableRegistry, "127.0.0.1:1")]
#[case::reference_without_tag_or_digest(Bad::NoTagNoDigest, "names no tag and no @sha256: digest")]
#[case::tag_not_in_the_registry(Bad::UnknownTag, "has no manifest under it")]
fn sign_refuses_bad_input(#[case] bad: Bad, #[case] says: &str) {
    let world = World::new();
    let key = KeyPair::generate();
    let reference = world.reference("v1");
    let digest = world.push_release("v1");
    let (key_path, password, target) = match bad {
        Bad::WrongPassword => (key.private(), "not the password", reference.clone()),
        Bad::NotP256 => (p384_key(world.dir.path()), PASSWORD, reference.clone()),
        Bad::MissingKey => (
            world.dir.path().join("absent.key"),
            PASSWORD,
            reference.clone(),
        ),
        Bad::UnreachableRegistry => (
            key.private(),
            PASSWORD,
            format!("127.0.0.1:1/{}:v1", project().repository()),
        ),
        Bad::NoTagNoDigest => (
            key.private(),
            PASSWORD,
            format!("{}/{}", world.registry.address, project().repository()),
        ),
        Bad::UnknownTag => (key.private(), PASSWORD, world.reference("v9")),
    };
    let (ok, stdout, stderr) = world.sign_with(&key_path, password, &[], &target);
    assert!(!ok, "sign accepted {bad:?}:\n{}", output(&stdout, &stderr));
    assert!(stderr.contains(says), "{bad:?}: no {says:?} in:\n{stderr}");
    let named = match bad {
        Bad::WrongPassword | Bad::NotP256 | Bad::MissingKey => key_path.display().to_string(),
        _ => target.clone(),
    };
    assert!(
        stderr.contains(&named),
        "{bad:?}: {named} not named in:\n{stderr}"
    );
    assert_eq!(
        files_in(&world.sbom_dir()),
        Vec::<std::path::PathBuf>::new(),
        "{bad:?}"
    );
    // Nothing was signed or attached: the artifact still has no signature.
    let (ok, stdout, stderr) = world.verify(&key.public(), &[], &reference);
    assert!(!ok, "{bad:?}:\n{}", output(&stdout, &stderr));
    assert!(
        stdout.contains(&format!(
            "no signature found under sha256-{}.sig",
            &digest[7..]
        )) && stdout.contains("no SBOM attached"),
        "{bad:?}:\n{}",
        output(&stdout, &stderr)
    );
}

/// keygen writes cosign's two files, the private one encrypted and
/// readable by its owner only, and refuses to overwrite them or to run
/// without a password.
#[test]
fn keygen_writes_an_encrypted_pair_once() {
    use std::os::unix::fs::PermissionsExt;
    let key = KeyPair::generate();
    let private = std::fs::read_to_string(key.private()).expect("cosign.key");
    assert!(
        private.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"),
        "{private}"
    );
    let public = std::fs::read_to_string(key.public()).expect("cosign.pub");
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"), "{public}");
    let mode = std::fs::metadata(key.private())
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let (ok, _, stderr) = run_bounded(
        release_binary()
            .arg("keygen")
            .current_dir(key.dir.path())
            .env("COSIGN_PASSWORD", "x"),
        LIMIT,
    );
    assert!(!ok && stderr.contains("already exists"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(key.private()).expect("cosign.key"),
        private
    );

    let empty = tempfile::tempdir().expect("temp dir");
    let (ok, _, stderr) = run_bounded(
        release_binary()
            .arg("keygen")
            .current_dir(empty.path())
            .env_remove("COSIGN_PASSWORD"),
        LIMIT,
    );
    assert!(!ok && stderr.contains("COSIGN_PASSWORD"), "{stderr}");
    assert!(files_in(empty.path()).is_empty());
}

/// `push --sign-key` (what `make publish COSIGN_KEY=…` runs) signs the
/// digest it pushed, SBOM included; a wrong password stops it before
/// anything is pushed.
#[test]
fn push_with_a_key_signs_what_it_pushed() {
    let world = World::new();
    let key = KeyPair::generate();
    let module = world.dir.path().join("module.wasm");
    std::fs::write(&module, annotated_module()).expect("write the module");
    let push = |password: &str| {
        run_bounded(
            release_binary()
                .arg("push")
                .args(["--registry", &world.registry.address, "--insecure"])
                .args(["--tag", "v1"])
                .arg("--module")
                .arg(&module)
                .arg("--sign-key")
                .arg(key.private())
                .env("COSIGN_PASSWORD", password),
            LIMIT,
        )
    };
    let (ok, stdout, stderr) = push("not the password");
    assert!(
        !ok && stderr.contains("wrong password"),
        "{}",
        output(&stdout, &stderr)
    );
    let (ok, stdout, stderr) = world.verify(&key.public(), &[], &world.reference("v1"));
    assert!(
        !ok && stderr.contains("has no manifest under it"),
        "pushed despite the wrong password:\n{}",
        output(&stdout, &stderr)
    );

    let (ok, stdout, stderr) = push(PASSWORD);
    assert!(ok, "{}", output(&stdout, &stderr));
    let (ok, out) = kwctl(&world, "verify", &key.public(), &[], &world.reference("v1"));
    assert!(ok, "kwctl refused what push --sign-key signed:\n{out}");
    let (ok, stdout, stderr) = world.verify(&key.public(), &[], &world.reference("v1"));
    assert!(ok, "{}", output(&stdout, &stderr));
}
