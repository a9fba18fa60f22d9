//! `policy-release`: annotate, publish and describe the policy.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use policy_release::oci::{self, Credentials, Target};
use policy_release::project::{write_file, PUBLISHED_REGISTRY};
use policy_release::size::{self, human};
use policy_release::{annotate, artifacthub, Project, ReleaseError, Result};

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
    /// Publish the annotated module as a Kubewarden OCI artifact tagged v<crate version>.
    Push {
        #[command(flatten)]
        registry: RegistryArgs,
        /// The annotated module [default: target/policy/linkerd-ha-policy.wasm].
        #[arg(long)]
        module: Option<PathBuf>,
        /// Tag [default: v<crate version>].
        #[arg(long)]
        tag: Option<String>,
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
    },
}

#[derive(Args)]
struct RegistryArgs {
    /// HOST[:PORT][/NAMESPACE], e.g. 127.0.0.1:5000 or ghcr.io/linkerd-ha-policy.
    #[arg(long, default_value = PUBLISHED_REGISTRY)]
    registry: String,
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
    /// Repository inside the registry [default: policies/<crate name>].
    #[arg(long)]
    repository: Option<String>,
}

impl RegistryArgs {
    fn target(self, project: &Project) -> Target {
        Target {
            registry: self.registry,
            repository: self.repository.unwrap_or_else(|| project.repository()),
            insecure: self.insecure,
            credentials: match (self.username, self.password) {
                (Some(username), Some(password)) => Some(Credentials { username, password }),
                _ => None,
            },
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
        } => push(&project, registry, module, tag),
        Command::Pull {
            registry,
            reference,
            expect_digest,
            module,
            out,
        } => pull(&project, registry, reference, expect_digest, module, out),
        Command::Artifacthub { check, created_at } => artifacthub(&project, check, created_at),
        Command::Size { module, annotated } => {
            let module = module.unwrap_or_else(|| project.module_path());
            let annotated = annotated.unwrap_or_else(|| project.annotated_module_path());
            print!("{}", size::report(&module, &annotated)?);
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
) -> Result<()> {
    let path = module.unwrap_or_else(|| project.annotated_module_path());
    let bytes = annotate::read_annotated(&path)?;
    let tag = match tag {
        Some(tag) => tag,
        None => annotate::release_tag(project, &bytes, &path)?,
    };
    let what = path.display().to_string();
    let pushed = oci::push(&registry.target(project), &tag, &bytes, &what)?;
    println!("pushed {}", pushed.reference);
    println!("{}", pushed.digest);
    Ok(())
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
