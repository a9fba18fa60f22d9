//! One test's world: a loopback cluster, Kubewarden's namespace with the
//! policy-server ServiceAccount and its RBAC, a TokenRequest token in a
//! kubeconfig for policy-server, policy-server 1.35 serving policy.yaml's
//! three policies over TLS from the annotated module, and the three webhook
//! configurations pointing at it (one mutating, two validating). Dropped in
//! reverse: policy-server is killed, then the cluster is stopped.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use policy_release::annotate::{annotate_bytes, release_metadata};
use policy_release::engine::{PolicyServer, PolicyServerConfig, PolicyServerOptions, ServingTls};
use policy_release::project::read_module;

use crate::cluster::Cluster;
use crate::kubectl::Kubectl;
use crate::objects::documents;
use crate::pki::WebhookPki;
use crate::policy::{
    cluster_admission_policies, policies_file, policy_lookups_rbac, webhook_configuration,
    KUBEWARDEN_NAMESPACE, KUBEWARDEN_RBAC,
};
use crate::{progress, project, wait_until, Tools};

/// The RBAC policy-server's ServiceAccount is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookups {
    /// Exactly what a Kubewarden 1.35 install gives it.
    KubewardenOnly,
    /// That, plus linkerd-ha-policy-lookups (nodes, disruption budgets, and
    /// the control plane's Deployments and StatefulSets).
    WithPolicyLookups,
}

#[derive(Debug, Clone)]
pub struct WorldOptions {
    pub lookups: Lookups,
    /// Register the webhooks at start (else call [`World::register_webhooks`]).
    pub register_webhooks: bool,
    /// Replaced settings, by ClusterAdmissionPolicy name.
    pub settings: Vec<(String, Value)>,
}

impl Default for WorldOptions {
    fn default() -> Self {
        WorldOptions {
            lookups: Lookups::WithPolicyLookups,
            register_webhooks: true,
            settings: Vec::new(),
        }
    }
}

pub struct World {
    // Field order is drop order: policy-server first, then the cluster,
    // and the lock last.
    pub server: PolicyServer,
    pub cluster: Cluster,
    dir: tempfile::TempDir,
    pub tools: Tools,
    /// kubectl as the cluster's admin.
    pub admin: Kubectl,
    pub pki: WebhookPki,
    /// The webhook configurations as created.
    pub webhooks: Vec<Value>,
    _one_at_a_time: MutexGuard<'static, ()>,
}

/// One world at a time per test binary, whatever `--test-threads` says
/// (`cargo test --workspace` runs a binary's tests in parallel): each
/// cluster is three servers and a controller manager.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub const MUTATING: &str = "clusterwide-linkerd-ha-mutating";
pub const VALIDATING: &str = "clusterwide-linkerd-ha-validating";
/// The Node instance (nodeChanges: warn; failurePolicy Ignore).
pub const NODES: &str = "clusterwide-linkerd-ha-nodes";

/// The module as `make annotate` writes it, made from the built module.
fn annotated_module(dir: &Path) -> PathBuf {
    let project = project();
    let built_path = project.module_path();
    let built = read_module(&built_path).unwrap_or_else(|e| {
        panic!("{e}\n(`make build` builds the policy module; `make test-cluster` does it all)")
    });
    let metadata = release_metadata(&project).unwrap_or_else(|e| panic!("{e}"));
    let annotated =
        annotate_bytes(&built, &metadata, "built module").unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("linkerd-ha-policy.wasm");
    std::fs::write(&path, annotated).expect("write the annotated module");
    path
}

impl World {
    pub fn start(options: WorldOptions) -> World {
        // A test that failed while holding it poisoned it; it is free now.
        let one_at_a_time = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let started = Instant::now();
        let tools = Tools::from_env();
        let dir = tempfile::Builder::new()
            .prefix("cluster-e2e-world-")
            .tempdir()
            .expect("a temporary folder");
        let module = annotated_module(dir.path());
        let cluster = Cluster::up(&tools);
        let admin = Kubectl::new(&tools.kubectl, &cluster.kubeconfig);

        // No kubelet: the TaintNodesByCondition admission plugin gives every
        // new Node the not-ready taint, which a kubelet would lift once the
        // node reports Ready. Lift it as that kubelet would, so that the
        // nodes count as schedulable for the policy's node lookups.
        admin
            .run(&[
                "taint",
                "nodes",
                "--all",
                "node.kubernetes.io/not-ready:NoSchedule-",
            ])
            .ok();

        // Kubewarden's namespace, policy-server's ServiceAccount and RBAC.
        admin
            .run(&["create", "namespace", KUBEWARDEN_NAMESPACE])
            .ok();
        // Linkerd's injector stays out of Kubewarden's namespace, where the
        // dry runs of objects::baseline happen (its webhook has no running
        // injector behind it here).
        admin
            .run(&[
                "label",
                "namespace",
                KUBEWARDEN_NAMESPACE,
                "config.linkerd.io/admission-webhooks=disabled",
            ])
            .ok();
        admin
            .run_with_stdin(&["apply", "-f", "-"], Some(KUBEWARDEN_RBAC))
            .ok();
        if options.lookups == Lookups::WithPolicyLookups {
            admin
                .run_with_stdin(&["apply", "-f", "-"], Some(&policy_lookups_rbac()))
                .ok();
        }
        // A TokenRequest for the ServiceAccount, as the kubelet makes for a
        // projected token volume.
        let token = admin
            .run(&[
                "-n",
                KUBEWARDEN_NAMESPACE,
                "create",
                "token",
                "policy-server",
                "--duration=2h",
            ])
            .ok()
            .stdout
            .trim()
            .to_string();
        let kubeconfig = dir.path().join("policy-server.kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: loopback\n  cluster:\n    \
                 server: {}\n    certificate-authority: {}\nusers:\n- name: policy-server\n  \
                 user:\n    token: {token}\ncontexts:\n- name: policy-server\n  context: \
                 {{cluster: loopback, user: policy-server, namespace: {KUBEWARDEN_NAMESPACE}}}\n\
                 current-context: policy-server\n",
                cluster.apiserver(),
                cluster.ca_file().display()
            ),
        )
        .expect("policy-server's kubeconfig");
        let whoami = Kubectl::new(&tools.kubectl, &kubeconfig)
            .run(&[
                "auth",
                "whoami",
                "-o",
                "jsonpath={.status.userInfo.username}",
            ])
            .ok()
            .stdout;
        assert_eq!(whoami, "system:serviceaccount:kubewarden:policy-server");

        let pki = WebhookPki::make(&dir.path().join("webhook-pki"));
        let module_url = format!("file://{}", module.display());
        let server = serve_policies(
            &tools,
            &pki,
            kubeconfig,
            policies_file(&module_url, &options.settings),
        );
        progress(format!(
            "policy-server 1.35 ready at {} (pid {:?}), lookups as system:serviceaccount:kubewarden:policy-server ({:?})",
            server.base_url(),
            server.pid(),
            options.lookups
        ));
        let mut world = World {
            server,
            cluster,
            dir,
            tools,
            admin,
            pki,
            webhooks: Vec::new(),
            _one_at_a_time: one_at_a_time,
        };
        if options.register_webhooks {
            world.register_webhooks();
        }
        progress(format!(
            "world ready in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
        world
    }

    /// Creates the webhook configurations (one per ClusterAdmissionPolicy)
    /// and waits until the API server calls the mutating one and the one
    /// for Nodes.
    pub fn register_webhooks(&mut self) {
        let base_url = self.server.base_url();
        let bundle = self.pki.ca_bundle();
        for policy in cluster_admission_policies() {
            let configuration = webhook_configuration(&policy, &base_url, &bundle);
            self.admin
                .run_with_stdin(
                    &["create", "-f", "-"],
                    Some(&serde_json::to_string(&configuration).expect("JSON")),
                )
                .ok();
            self.webhooks.push(configuration);
        }
        // The API server picks new configurations up from an informer: wait
        // until the validating and the mutating webhook both answer. A dry
        // run of a pod with the mistyped inject value is refused by the
        // mutating policy; a namespace named like a system one would be
        // mutated, so use the pod.
        let probe = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "webhook-probe", "namespace": "default",
                         "annotations": {"linkerd.io/inject": "true"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        });
        let text = serde_json::to_string(&probe).expect("JSON");
        wait_until(
            "the API server to call the webhooks",
            Duration::from_secs(60),
            || {
                let run = self
                    .admin
                    .run_with_stdin(&["create", "--dry-run=server", "-f", "-"], Some(&text));
                if !run.success && run.stderr.contains(MUTATING) {
                    Ok(())
                } else {
                    Err(format!("{}{}", run.stdout, run.stderr))
                }
            },
        );
        // The ValidatingWebhookConfigurations come from another informer.
        // The Node instance never refuses, so its calls are counted instead:
        // a server dry run of a label on a Node (an UPDATE it answers
        // without a lookup) until the API server's metrics count a call.
        let node = self
            .admin
            .run(&["get", "nodes", "-o", "name"])
            .ok()
            .stdout
            .lines()
            .next()
            .map(str::to_string);
        let nodes_policy = self
            .webhooks
            .iter()
            .any(|configuration| configuration["metadata"]["name"] == NODES);
        if let (Some(node), true) = (node, nodes_policy) {
            let webhook = format!("{NODES}.kubewarden.admission");
            wait_until(
                "the API server to call the Node webhook",
                Duration::from_secs(60),
                || {
                    self.admin
                        .run(&[
                            "label",
                            &node,
                            "cluster-e2e/webhook-probe=1",
                            "--dry-run=server",
                        ])
                        .ok();
                    match webhook_calls(&self.admin, &webhook) {
                        0 => Err("not called yet".to_string()),
                        _ => Ok(()),
                    }
                },
            );
        }
        progress("webhooks registered and answering");
    }

    /// kube-apiserver's audit log (cluster/up.sh's audit policy: every
    /// write at Metadata level, and the reads of service accounts outside
    /// kube-system, such as policy-server's lookups).
    pub fn audit_log(&self) -> PathBuf {
        self.cluster.audit_log()
    }

    /// The calls the API server has made to `webhook` (a webhook's name,
    /// `<configuration>.kubewarden.admission`), from its metrics.
    pub fn webhook_calls(&self, webhook: &str) -> u64 {
        webhook_calls(&self.admin, webhook)
    }

    /// `kubectl` as the admin.
    pub fn kubectl(&self) -> &Kubectl {
        &self.admin
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A manifest written to this world's folder (for `kubectl -f FILE`).
    pub fn manifest(&self, file_name: &str, objects: &[Value]) -> PathBuf {
        let path = self.dir.path().join(file_name);
        std::fs::write(&path, crate::objects::to_yaml(objects)).expect("write a manifest");
        path
    }

    /// Everything policy-server logged.
    pub fn server_log(&self) -> String {
        self.server.log()
    }

    /// POSTs an AdmissionReview straight to policy-server over HTTPS (curl,
    /// trusting the webhook CA), as the API server would send it.
    pub fn ask_policy_server(&self, policy_id: &str, review: &Value) -> Value {
        let body = self.dir.path().join("review.json");
        std::fs::write(&body, review.to_string()).expect("review.json");
        let output = std::process::Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "30"])
            .arg("--cacert")
            .arg(&self.pki.ca_cert)
            .args(["-H", "Content-Type: application/json", "--data-binary"])
            .arg(format!("@{}", body.display()))
            .arg(format!("{}/validate/{policy_id}", self.server.base_url()))
            .output()
            .expect("curl");
        assert!(
            output.status.success(),
            "curl to policy-server failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "policy-server's answer is not JSON ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }
}

/// The API server's count of calls to `webhook`, every code and operation:
/// `apiserver_admission_webhook_request_total` of its /metrics.
pub fn webhook_calls(kubectl: &Kubectl, webhook: &str) -> u64 {
    let metrics = kubectl.run(&["get", "--raw", "/metrics"]).ok().stdout;
    let label = format!("name=\"{webhook}\"");
    metrics
        .lines()
        .filter(|line| line.starts_with("apiserver_admission_webhook_request_total{"))
        .filter(|line| line.contains(&label))
        .filter_map(|line| line.rsplit_once(' '))
        .filter_map(|(_, value)| value.trim().parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// A fixture of ../shared/fixtures/linkerd/.
pub fn linkerd_fixture(file_name: &str) -> (PathBuf, Vec<Value>) {
    let path = project()
        .root
        .join("../shared/fixtures/linkerd")
        .join(file_name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (the shared fixtures)", path.display()));
    (path, documents(&text))
}

/// policy-server 1.35 as the cluster's webhook: over TLS with the world's
/// certificate, looking up as `kubewarden:policy-server` (`kubeconfig`),
/// serving `policies` (a `policies.yml` as the controller writes it).
pub fn serve_policies(
    tools: &Tools,
    pki: &WebhookPki,
    kubeconfig: PathBuf,
    policies: Value,
) -> PolicyServer {
    PolicyServer::start_with_options(
        PolicyServerConfig {
            binary: tools.policy_server.clone(),
            policies,
            insecure_sources: Vec::new(),
            // As the controller's Deployment sets it (helm value
            // alwaysAcceptAdmissionReviewsOnDeploymentsNamespace: true).
            env: vec![(
                "KUBEWARDEN_ALWAYS_ACCEPT_ADMISSION_REVIEWS_ON_NAMESPACE".into(),
                KUBEWARDEN_NAMESPACE.into(),
            )],
            workers: Some(2),
        },
        PolicyServerOptions {
            tls: Some(ServingTls {
                cert_file: pki.server_cert.clone(),
                key_file: pki.server_key.clone(),
            }),
            kubeconfig: Some(kubeconfig),
            attempts: 3,
            ..PolicyServerOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}
