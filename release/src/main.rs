//! `policy-release`: annotate, publish and describe the policy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use policy_release::keys::{self, PublicKey};
use policy_release::oci::{self, Credentials, Target};
use policy_release::project::{write_file, write_file_atomically, PUBLISHED_REGISTRY};
use policy_release::signing::{self, SignRequest, Subject};
use policy_release::size::{self, human};
use policy_release::{annotate, artifacthub, sbom, Project, ReleaseError, Result};

#[derive(Parser)]
#[command(
    name = "policy-release",
    version,
    about = "Ship linkerd-ha-policy like a Kubewarden policy"
)]
struct Cli {
    /// The workspace root (Cargo.toml, metadata.yml, README.md).
    #[arg(long, global = true, default_value_os_t = Project::default_root())]
    project_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Embed metadata.yml, the crate version and README.md in the module
    /// (the `io.kubewarden.metadata` custom section, as `kwctl annotate`).
    Annotate {
        /// The built module [default: $POLICY_WASM or target/wasm32-wasip1/release/linkerd_ha_policy.wasm].
        #[arg(long)]
        module: Option<PathBuf>,
        /// Where to write the annotated module [default: target/policy/linkerd-ha-policy.wasm].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Publish the annotated module as a Kubewarden OCI artifact tagged
    /// v<crate version>, and write its SBOM to target/sbom/.
    Push {
        #[command(flatten)]
        registry: RegistryArgs,
        /// The annotated module [default: target/policy/linkerd-ha-policy.wasm].
        #[arg(long)]
        module: Option<PathBuf>,
        /// Tag [default: v<crate version>].
        #[arg(long)]
        tag: Option<String>,
        /// Sign the pushed digest with this cosign key right after the push
        /// (as `sign`; the password comes from $COSIGN_PASSWORD).
        #[arg(long, value_name = "KEY")]
        sign_key: Option<PathBuf>,
        /// With --sign-key: annotations for the signature (KEY=VALUE).
        #[arg(
            short = 'a',
            long = "annotation",
            value_name = "KEY=VALUE",
            requires = "sign_key"
        )]
        annotations: Vec<String>,
    },
    /// Write a cosign-compatible ECDSA P-256 key pair: cosign.key (encrypted
    /// with $COSIGN_PASSWORD, as `cosign generate-key-pair`) and cosign.pub.
    Keygen {
        /// The folder to write them into.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Sign a pushed artifact by digest, in cosign's format (the
    /// sha256-<digest>.sig tag), attach its SPDX SBOM (sha256-<digest>.sbom,
    /// signed too) and write the SBOM and its blob signature to target/sbom/.
    ///
    /// The key's password comes from $COSIGN_PASSWORD. Existing signatures
    /// are kept. Check with `kwctl verify --verification-key cosign.pub REF`.
    Sign {
        /// The cosign private key (cosign.key).
        #[arg(long)]
        key: PathBuf,
        /// Annotations written into the signed payload (KEY=VALUE); `kwctl
        /// verify -a` and a verificationConfig's `annotations` match them.
        #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE")]
        annotations: Vec<String>,
        /// Where to write the SBOM and its .sig [default: target/sbom].
        #[arg(long)]
        sbom_dir: Option<PathBuf>,
        #[command(flatten)]
        access: AccessArgs,
        /// The artifact: HOST[:PORT]/REPO:TAG or HOST[:PORT]/REPO@sha256:DIGEST
        /// (a tag is resolved to its digest, which is what gets signed).
        reference: String,
    },
    /// Check an artifact's cosign signature and its attached SBOM's
    /// signatures against a public key; says which failed.
    Verify {
        /// The cosign public key (cosign.pub).
        #[arg(long)]
        key: PathBuf,
        /// Annotations the signature must carry (KEY=VALUE).
        #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE")]
        annotations: Vec<String>,
        #[command(flatten)]
        access: AccessArgs,
        /// The artifact: HOST[:PORT]/REPO:TAG or HOST[:PORT]/REPO@sha256:DIGEST.
        reference: String,
    },
    /// Fetch the artifact back and check its digest and that its module is the local one.
    Pull {
        #[command(flatten)]
        registry: RegistryArgs,
        /// Tag or `sha256:` digest [default: v<crate version>].
        #[arg(long)]
        reference: Option<String>,
        /// Fail unless the manifest digest is this one.
        #[arg(long)]
        expect_digest: Option<String>,
        /// The module the pulled layer must equal [default: target/policy/linkerd-ha-policy.wasm].
        #[arg(long)]
        module: Option<PathBuf>,
        /// Where to write the pulled module.
        #[arg(long)]
        out: PathBuf,
    },
    /// Generate artifacthub-pkg.yml from metadata.yml and Cargo.toml.
    Artifacthub {
        /// Fail if the committed file differs from what would be generated.
        #[arg(long, conflicts_with = "created_at")]
        check: bool,
        /// Release time (RFC 3339); required when the version changed.
        #[arg(long)]
        created_at: Option<String>,
    },
    /// Print the module's size, by section, and the annotated module's.
    Size {
        #[arg(long)]
        module: Option<PathBuf>,
        #[arg(long)]
        annotated: Option<PathBuf>,
        /// Another build of the module (an earlier commit's, say): the
        /// report then says by how much the module grew or shrank.
        #[arg(long, value_name = "WASM")]
        baseline: Option<PathBuf>,
    },
}

#[derive(Args)]
struct RegistryArgs {
    /// HOST[:PORT][/NAMESPACE], e.g. 127.0.0.1:5000 or ghcr.io/linkerd-ha-policy.
    #[arg(long, default_value = PUBLISHED_REGISTRY)]
    registry: String,
    #[command(flatten)]
    access: AccessArgs,
    /// Repository inside the registry [default: policies/<crate name>].
    #[arg(long)]
    repository: Option<String>,
}

/// How to reach the registry of a whole reference.
#[derive(Args)]
struct AccessArgs {
    /// Use plain HTTP (a local registry without TLS).
    #[arg(long)]
    insecure: bool,
    /// User for the registry's basic auth or token service (with --password).
    #[arg(long, requires = "password")]
    username: Option<String>,
    /// Password for --username; prefer $REGISTRY_PASSWORD, which keeps it out
    /// of the process list (ignored without --username).
    #[arg(long, env = "REGISTRY_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

impl AccessArgs {
    fn credentials(self) -> Option<Credentials> {
        match (self.username, self.password) {
            (Some(username), Some(password)) => Some(Credentials { username, password }),
            _ => None,
        }
    }

    fn subject(self, reference: &str) -> Result<Subject> {
        let insecure = self.insecure;
        Subject::parse(reference, insecure, self.credentials())
    }
}

/// `KEY=VALUE` pairs.
fn parse_annotations(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
            _ => Err(ReleaseError::Annotation(pair.clone())),
        })
        .collect()
}

impl RegistryArgs {
    fn target(self, project: &Project) -> Target {
        Target {
            registry: self.registry,
            repository: self.repository.unwrap_or_else(|| project.repository()),
            insecure: self.access.insecure,
            credentials: self.access.credentials(),
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let project = Project::load(&cli.project_dir)?;
    match cli.command {
        Command::Annotate { module, out } => annotate(&project, module, out),
        Command::Push {
            registry,
            module,
            tag,
            sign_key,
            annotations,
        } => push(&project, registry, module, tag, sign_key, &annotations),
        Command::Keygen { dir } => keygen(&dir),
        Command::Sign {
            key,
            annotations,
            sbom_dir,
            access,
            reference,
        } => {
            // Everything local is checked before the registry is touched.
            let annotations = parse_annotations(&annotations)?;
            let signer = keys::load_signer(&key, &keys::password_from_env(&key)?)?;
            let subject = access.subject(&reference)?;
            sign(&project, subject, signer, annotations, sbom_dir)
        }
        Command::Verify {
            key,
            annotations,
            access,
            reference,
        } => verify(&key, &annotations, access, &reference),
        Command::Pull {
            registry,
            reference,
            expect_digest,
            module,
            out,
        } => pull(&project, registry, reference, expect_digest, module, out),
        Command::Artifacthub { check, created_at } => artifacthub(&project, check, created_at),
        Command::Size {
            module,
            annotated,
            baseline,
        } => {
            let module = module.unwrap_or_else(|| project.module_path());
            let annotated = annotated.unwrap_or_else(|| project.annotated_module_path());
            print!(
                "{}",
                size::report(&module, &annotated, baseline.as_deref())?
            );
            Ok(())
        }
    }
}

fn annotate(project: &Project, module: Option<PathBuf>, out: Option<PathBuf>) -> Result<()> {
    let input = module.unwrap_or_else(|| project.module_path());
    let output = out.unwrap_or_else(|| project.annotated_module_path());
    let annotated = annotate::annotate_file(project, &input, &output)?;
    println!(
        "{} ({}) -> {} ({}), version {}",
        input.display(),
        human(annotated.input_size),
        output.display(),
        human(annotated.module.len()),
        project.version
    );
    Ok(())
}

fn push(
    project: &Project,
    registry: RegistryArgs,
    module: Option<PathBuf>,
    tag: Option<String>,
    sign_key: Option<PathBuf>,
    annotations: &[String],
) -> Result<()> {
    let path = module.unwrap_or_else(|| project.annotated_module_path());
    let bytes = annotate::read_annotated(&path)?;
    let tag = match tag {
        Some(tag) => tag,
        None => annotate::release_tag(project, &bytes, &path)?,
    };
    // The key and the SBOM are checked before anything is pushed.
    let signer = match &sign_key {
        Some(key) => Some(keys::load_signer(key, &keys::password_from_env(key)?)?),
        None => None,
    };
    let annotations = parse_annotations(annotations)?;
    let sbom = sbom::to_json(&sbom::generate(project, &bytes)?)?;
    let what = path.display().to_string();
    let target = registry.target(project);
    let pushed = oci::push(&target, &tag, &bytes, &what)?;
    let sbom_path = project.sbom_dir().join(sbom::file_name(project));
    write_file_atomically(&sbom_path, &sbom)?;
    println!("pushed {}", pushed.reference);
    println!("wrote {}", sbom_path.display());
    if let Some(signer) = signer {
        let by_digest = target.reference(&pushed.digest)?.whole();
        let subject = Subject::parse(&by_digest, target.insecure, target.credentials.clone())?;
        sign(project, subject, signer, annotations, None)?;
    }
    println!("{}", pushed.digest);
    Ok(())
}

fn keygen(dir: &Path) -> Result<()> {
    let password = keys::password_from_env(&dir.join(keys::PRIVATE_KEY_FILE))?;
    let files = keys::generate(dir, &password)?;
    println!(
        "wrote {} (encrypted with ${}) and {}",
        files.private_key.display(),
        keys::PASSWORD_ENV,
        files.public_key.display()
    );
    Ok(())
}

fn sign(
    project: &Project,
    subject: Subject,
    signer: policy_release::keys::Signer,
    annotations: BTreeMap<String, String>,
    sbom_dir: Option<PathBuf>,
) -> Result<()> {
    let signed = signing::sign(SignRequest {
        project,
        subject,
        signer,
        annotations,
        sbom_dir: sbom_dir.unwrap_or_else(|| project.sbom_dir()),
    })?;
    println!("signed {} ({})", signed.digest, signed.signature_tag);
    println!(
        "attached the SBOM as {} ({}, signed)",
        signed.sbom_tag, signed.sbom_digest
    );
    println!(
        "wrote {} and {}",
        signed.sbom_path.display(),
        signed.sbom_signature_path.display()
    );
    Ok(())
}

fn verify(key: &Path, annotations: &[String], access: AccessArgs, reference: &str) -> Result<()> {
    let annotations = parse_annotations(annotations)?;
    let key = PublicKey::load(key)?;
    let subject = access.subject(reference)?;
    let verification = signing::verify(&subject, &key, &annotations)?;
    for (what, check) in [
        ("artifact", &verification.artifact),
        ("SBOM", &verification.sbom),
    ] {
        match check {
            Ok(detail) => println!("{what}: ok: {detail}"),
            Err(reason) => println!("{what}: FAILED: {reason}"),
        }
    }
    verification.into_result().map(|_| ())
}

fn pull(
    project: &Project,
    registry: RegistryArgs,
    reference: Option<String>,
    expect_digest: Option<String>,
    module: Option<PathBuf>,
    out: PathBuf,
) -> Result<()> {
    let local_path = module.unwrap_or_else(|| project.annotated_module_path());
    let local = annotate::read_annotated(&local_path)?;
    let reference = reference.unwrap_or_else(|| project.tag());
    let pulled = oci::pull(
        &registry.target(project),
        &reference,
        expect_digest.as_deref(),
    )?;
    pulled.verify_module(&local, &local_path)?;
    write_file(&out, &pulled.module)?;
    println!("pulled {} -> {}", pulled.reference, out.display());
    println!("{}", pulled.digest);
    Ok(())
}

fn artifacthub(project: &Project, check: bool, created_at: Option<String>) -> Result<()> {
    let path = project.artifacthub_path();
    if check {
        artifacthub::check(project)?;
        println!("{} is up to date", path.display());
    } else {
        artifacthub::generate(project, created_at.as_deref(), &path)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The error and its causes: network errors keep the useful part (refused,
/// TLS handshake, timeout) in their sources. Causes already quoted by the
/// message above them are not repeated.
fn describe(error: &ReleaseError) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(current) = cause {
        let message = current.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        cause = current.source();
    }
    text
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("policy-release: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}
