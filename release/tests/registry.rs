//! End to end against a real OCI registry on loopback: the annotated module
//! is pushed as a Kubewarden artifact, pulled back byte-identical, pushed
//! again to the same digest, and basic auth works and fails clearly.

mod common;

use std::time::Duration;

use common::{annotated_module, project, release_binary, run_bounded, Registry};
use oci_client::manifest::{WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE};
use policy_release::oci::{self, sha256_digest, Credentials, Target};
use policy_release::ReleaseError;

const WHAT: &str = "annotated module";

fn target(registry: &Registry, credentials: Option<(&str, &str)>) -> Target {
    Target {
        registry: registry.address.clone(),
        repository: project().repository(),
        insecure: true,
        credentials: credentials.map(|(username, password)| Credentials {
            username: username.into(),
            password: password.into(),
        }),
    }
}

#[test]
fn push_then_pull_is_byte_identical() {
    let registry = Registry::start();
    let target = target(&registry, None);
    let module = annotated_module();
    let tag = project().tag();

    let pushed = oci::push(&target, &tag, module, WHAT).expect("push");
    assert_eq!(
        pushed.reference,
        format!("{}/policies/linkerd-ha-policy:{tag}", registry.address)
    );
    assert!(pushed.digest.starts_with("sha256:"), "{}", pushed.digest);

    let pulled = oci::pull(&target, &tag, Some(&pushed.digest)).expect("pull by tag");
    assert_eq!(pulled.digest, pushed.digest);
    assert!(
        pulled.module == module,
        "the pulled module differs from the pushed one"
    );

    let by_digest = oci::pull(&target, &pushed.digest, None).expect("pull by digest");
    assert!(by_digest.module == module);

    // The Kubewarden artifact shape.
    let manifest = &pulled.manifest;
    assert_eq!(manifest.config.media_type, WASM_CONFIG_MEDIA_TYPE);
    assert_eq!(manifest.layers.len(), 1);
    assert_eq!(manifest.layers[0].media_type, WASM_LAYER_MEDIA_TYPE);
    assert_eq!(manifest.layers[0].digest, sha256_digest(module));
    let annotations = manifest.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations["org.opencontainers.image.version"],
        project().version
    );
    assert_eq!(
        annotations["org.opencontainers.image.title"],
        "linkerd-ha-policy"
    );
    assert_eq!(
        annotations["io.kubewarden.policy.version"],
        project().version
    );
    assert!(
        annotations.values().all(|v| !v.contains('\n')),
        "{annotations:?}"
    );
    assert!(!annotations.contains_key("io.kubewarden.policy.usage"));
}

#[test]
fn pushing_the_same_module_twice_gives_the_same_digest() {
    let registry = Registry::start();
    let target = target(&registry, None);
    let tag = project().tag();
    let first = oci::push(&target, &tag, annotated_module(), WHAT).expect("first push");
    let second = oci::push(&target, &tag, annotated_module(), WHAT).expect("second push");
    assert_eq!(first.digest, second.digest);
    // And the digest is a function of the module alone: computed offline.
    let artifact = oci::artifact(annotated_module(), WHAT).expect("artifact");
    assert_eq!(sha256_digest(&artifact.manifest_bytes), first.digest);
}

#[test]
fn pull_rejects_an_unexpected_digest() {
    let registry = Registry::start();
    let target = target(&registry, None);
    let tag = project().tag();
    oci::push(&target, &tag, annotated_module(), WHAT).expect("push");
    let wrong = sha256_digest(b"something else");
    let error = oci::pull(&target, &tag, Some(&wrong)).expect_err("a wrong digest must fail");
    assert!(
        matches!(error, ReleaseError::DigestMismatch { .. }),
        "{error}"
    );
}

#[test]
fn basic_auth_accepts_the_right_password_and_explains_a_wrong_one() {
    let registry = Registry::start_with_auth("releaser", "s3cret-pass");
    let tag = project().tag();

    let good = target(&registry, Some(("releaser", "s3cret-pass")));
    let pushed = oci::push(&good, &tag, annotated_module(), WHAT).expect("push with credentials");
    let pulled = oci::pull(&good, &tag, Some(&pushed.digest)).expect("pull with credentials");
    assert!(pulled.module == annotated_module());

    let wrong = target(&registry, Some(("releaser", "wrong-pass")));
    let error =
        oci::push(&wrong, &tag, annotated_module(), WHAT).expect_err("a wrong password must fail");
    let message = error.to_string();
    eprintln!("wrong password: {message}");
    assert!(
        matches!(error, ReleaseError::AuthenticationFailed { .. }),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "authentication failed for registry {}",
            registry.address
        )),
        "{message}"
    );
    assert!(
        message.contains("rejected the username/password"),
        "{message}"
    );
    assert!(
        !message.contains("wrong-pass"),
        "the password leaked: {message}"
    );

    let error = oci::pull(&wrong, &tag, None).expect_err("a wrong password must fail to pull");
    assert!(
        matches!(error, ReleaseError::AuthenticationFailed { .. }),
        "{error}"
    );

    let anonymous = target(&registry, None);
    let error = oci::push(&anonymous, &tag, annotated_module(), WHAT)
        .expect_err("anonymous push must fail");
    assert!(
        error.to_string().contains("requires credentials"),
        "{error}"
    );
}

/// The command line as a release runs it: annotate, push, pull.
#[test]
fn cli_annotates_pushes_and_pulls() {
    let registry = Registry::start_with_auth("releaser", "s3cret-pass");
    let dir = tempfile::tempdir().expect("temp dir");
    let annotated = dir.path().join("policy.wasm");
    let limit = Duration::from_secs(120);

    let (ok, out, err) = run_bounded(
        release_binary()
            .arg("annotate")
            .arg("--module")
            .arg(common::module_path())
            .arg("--out")
            .arg(&annotated),
        limit,
    );
    assert!(ok, "annotate failed:\n{out}\n{err}");
    assert!(
        std::fs::read(&annotated).expect("annotated file") == annotated_module(),
        "the CLI and the library annotate differently"
    );

    let (ok, out, err) = run_bounded(
        &mut push_command(&registry.address, &annotated, "s3cret-pass"),
        limit,
    );
    assert!(ok, "push failed:\n{out}\n{err}");
    let digest = out.lines().last().unwrap_or_default().to_string();
    assert!(digest.starts_with("sha256:"), "{out}");

    let pulled_path = dir.path().join("pulled.wasm");
    let (ok, out, err) = run_bounded(
        release_binary()
            .args(["pull", "--registry", &registry.address, "--insecure"])
            .args(["--username", "releaser"])
            .env("REGISTRY_PASSWORD", "s3cret-pass")
            .args(["--expect-digest", &digest])
            .arg("--module")
            .arg(&annotated)
            .arg("--out")
            .arg(&pulled_path),
        limit,
    );
    assert!(ok, "pull failed:\n{out}\n{err}");
    assert!(std::fs::read(&pulled_path).expect("pulled file") == annotated_module());

    let (ok, _, err) = run_bounded(
        &mut push_command(&registry.address, &annotated, "nope"),
        limit,
    );
    assert!(!ok, "a wrong password must fail the command");
    assert!(
        err.contains(&format!(
            "authentication failed for registry {}",
            registry.address
        )),
        "{err}"
    );
}

fn push_command(address: &str, module: &std::path::Path, password: &str) -> std::process::Command {
    let mut command = release_binary();
    command
        .args([
            "push",
            "--registry",
            address,
            "--insecure",
            "--username",
            "releaser",
        ])
        .env("REGISTRY_PASSWORD", password)
        .arg("--module")
        .arg(module);
    command
}
