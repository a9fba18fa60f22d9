//! One view of every pod-creating kind: the object's own metadata, its
//! replica count, and the pod template's metadata and spec, wherever the kind
//! keeps them.

use crate::decode::{decode_object, json_object, ObjectFields};
use crate::objects::{Container, DeploymentStrategy, Node, ObjectList, ObjectMeta, PodSpec};

/// The node label a required anti-affinity term spreads replicas over, one
/// per node.
pub const HOSTNAME_TOPOLOGY: &str = "kubernetes.io/hostname";

/// The eight kinds that create pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    Pod,
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    ReplicationController,
    Job,
    CronJob,
}

impl WorkloadKind {
    /// The kinds a critical control-plane component runs as.
    pub const CRITICAL: [WorkloadKind; 2] = [Self::Deployment, Self::StatefulSet];

    pub const ALL: [WorkloadKind; 8] = [
        Self::Pod,
        Self::Deployment,
        Self::ReplicaSet,
        Self::StatefulSet,
        Self::DaemonSet,
        Self::ReplicationController,
        Self::Job,
        Self::CronJob,
    ];

    pub fn from_group_kind(group: &str, kind: &str) -> Option<Self> {
        Some(match (group, kind) {
            ("", "Pod") => Self::Pod,
            ("", "ReplicationController") => Self::ReplicationController,
            ("apps", "Deployment") => Self::Deployment,
            ("apps", "ReplicaSet") => Self::ReplicaSet,
            ("apps", "StatefulSet") => Self::StatefulSet,
            ("apps", "DaemonSet") => Self::DaemonSet,
            ("batch", "Job") => Self::Job,
            ("batch", "CronJob") => Self::CronJob,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Pod => "Pod",
            Self::Deployment => "Deployment",
            Self::ReplicaSet => "ReplicaSet",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
            Self::ReplicationController => "ReplicationController",
            Self::Job => "Job",
            Self::CronJob => "CronJob",
        }
    }

    /// Where the pod template lives in the object's JSON.
    pub fn template_path(self) -> &'static [&'static str] {
        match self {
            Self::Pod => &[],
            Self::CronJob => &["spec", "jobTemplate", "spec", "template"],
            _ => &["spec", "template"],
        }
    }

    /// Kinds whose `spec.replicas` sets how many pods run.
    pub fn has_replicas(self) -> bool {
        matches!(
            self,
            Self::Deployment | Self::ReplicaSet | Self::StatefulSet | Self::ReplicationController
        )
    }
}

/// A pod template (or a Pod's own metadata and spec).
#[derive(Debug, Clone, Default)]
pub struct PodTemplate {
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
}

json_object!(lenient PodTemplate {
    "metadata" => metadata,
    "spec" => spec,
});

/// The members of the pod-creating kinds that lead to the template.
#[derive(Default)]
pub struct Templated {
    metadata: ObjectMeta,
    spec: TemplatedSpec,
}

json_object!(lenient Templated {
    "metadata" => metadata,
    "spec" => spec,
});

#[derive(Default)]
struct TemplatedSpec {
    replicas: Option<i64>,
    template: PodTemplate,
    job_template: JobTemplate,
    strategy: DeploymentStrategy,
}

json_object!(lenient TemplatedSpec {
    "replicas" => replicas,
    "template" => template,
    "jobTemplate" => job_template,
    "strategy" => strategy,
});

#[derive(Default)]
struct JobTemplate {
    spec: JobSpec,
}

json_object!(lenient JobTemplate {
    "spec" => spec,
});

#[derive(Default)]
struct JobSpec {
    template: PodTemplate,
}

json_object!(lenient JobSpec {
    "template" => template,
});

#[derive(Debug, Clone)]
pub struct Workload {
    pub kind: WorkloadKind,
    /// The object's own metadata (for a Pod, also its pod metadata).
    pub meta: ObjectMeta,
    /// `spec.replicas`, where the kind has it and the object sets it.
    pub replicas: Option<i64>,
    /// A Deployment's `spec.strategy` (empty for other kinds); boxed, as
    /// few objects need it and every Subject pays for the largest variant.
    pub strategy: Box<DeploymentStrategy>,
    pub template: PodTemplate,
}

impl Workload {
    /// The fields a control-plane workload is looked up with: what the
    /// node placement of its pods depends on (sorted, as the SDK sends).
    pub const PLACEMENT_FIELDS: &'static [&'static str] = &[
        "metadata.name",
        "metadata.namespace",
        "spec.replicas",
        "spec.template.metadata.labels",
        "spec.template.spec.affinity",
        "spec.template.spec.tolerations",
    ];

    /// Decodes the parts of `json` the rules read, for the given kind.
    pub fn decode(kind: WorkloadKind, json: &str) -> Result<Self, DecodeError> {
        if kind == WorkloadKind::Pod {
            let pod: PodTemplate = decode_json(json)?;
            return Ok(Self {
                kind,
                meta: pod.metadata.clone(),
                replicas: None,
                strategy: Box::default(),
                template: pod,
            });
        }
        let object: Templated = decode_json(json)?;
        Ok(Self::from_templated(kind, object))
    }

    /// Decodes the `items` of a List answer of `kind` (not Pod), e.g. the
    /// Deployments of a namespace.
    pub fn decode_list(kind: WorkloadKind, json: &str) -> Result<Vec<Self>, DecodeError> {
        let list: ObjectList<Templated> = decode_json(json)?;
        Ok(list
            .items
            .into_iter()
            .map(|object| Self::from_templated(kind, object))
            .collect())
    }

    pub fn from_templated(kind: WorkloadKind, object: Templated) -> Self {
        let template = if kind == WorkloadKind::CronJob {
            object.spec.job_template.spec.template
        } else {
            object.spec.template
        };
        Self {
            kind,
            meta: object.metadata,
            replicas: object.spec.replicas.filter(|_| kind.has_replicas()),
            strategy: if kind == WorkloadKind::Deployment {
                Box::new(object.spec.strategy)
            } else {
                Box::default()
            },
            template,
        }
    }

    /// Where the pod annotations sit in this object, for messages:
    /// `spec.template.metadata.annotations`, or a Pod's `metadata.annotations`.
    pub fn pod_annotations_place(&self) -> String {
        let mut place = self.kind.template_path().join(".");
        if !place.is_empty() {
            place.push('.');
        }
        place.push_str("metadata.annotations");
        place
    }

    /// Where a person changes the pods' annotations, for a fix: the
    /// template, or for a Pod its controller's template (the controller
    /// makes the pods from it), or a bare Pod's own metadata.
    pub fn annotations_to_edit(&self) -> String {
        match (self.kind, self.meta.controller_owner()) {
            (WorkloadKind::Pod, Some(owner)) => format!(
                "the pod template of its controller {owner} (spec.template.metadata.annotations there)"
            ),
            (WorkloadKind::Pod, None) => "the Pod's metadata.annotations".to_string(),
            _ => self.pod_annotations_place(),
        }
    }

    /// How a change to the pods' annotations reaches running pods.
    pub fn how_pods_get_it(&self) -> &'static str {
        match (self.kind, self.meta.controller_owner()) {
            (WorkloadKind::Pod, Some(_)) => "the controller's next pods carry it",
            (WorkloadKind::Pod, None) => {
                "then delete and create the Pod again (a Pod's containers cannot change)"
            }
            _ => "the next rollout's pods carry it",
        }
    }

    pub fn pod_meta(&self) -> &ObjectMeta {
        &self.template.metadata
    }

    /// Replicas as Kubernetes counts them: absent means one.
    pub fn replicas_wanted(&self) -> i64 {
        self.replicas.unwrap_or(1)
    }

    /// Whether the pods require a node each: a required anti-affinity term
    /// on the hostname, so the scheduler never puts two on one node.
    pub fn needs_a_node_per_replica(&self) -> bool {
        self.pod_spec()
            .affinity
            .pod_anti_affinity
            .required
            .iter()
            .any(|term| term.topology_key == HOSTNAME_TOPOLOGY)
    }

    /// How many of `nodes` the scheduler could place the pods on: not
    /// cordoned, every `NoSchedule`/`NoExecute` taint tolerated.
    pub fn schedulable_nodes(&self, nodes: &[Node]) -> usize {
        let tolerations = &self.pod_spec().tolerations;
        nodes.iter().filter(|node| node.admits(tolerations)).count()
    }

    pub fn pod_spec(&self) -> &PodSpec {
        &self.template.spec
    }

    /// JSON path of the pod metadata, for mutations.
    pub fn pod_meta_path(&self) -> Vec<String> {
        self.path_under_template("metadata")
    }

    /// JSON path of the pod spec, for mutations.
    pub fn pod_spec_path(&self) -> Vec<String> {
        self.path_under_template("spec")
    }

    fn path_under_template(&self, leaf: &str) -> Vec<String> {
        self.kind
            .template_path()
            .iter()
            .map(|segment| segment.to_string())
            .chain(std::iter::once(leaf.to_string()))
            .collect()
    }

    /// The `linkerd-proxy` container, or the native-sidecar init container
    /// of that name, with its place in the spec for mutations.
    pub fn proxy_container(&self) -> Option<ContainerRef<'_>> {
        let spec = self.pod_spec();
        self.containers()
            .find(|c| c.container.name == PROXY_CONTAINER)
            .or_else(|| {
                spec.init_containers
                    .iter()
                    .enumerate()
                    .find(|(_, c)| c.name == PROXY_CONTAINER)
                    .map(|(index, container)| ContainerRef {
                        list: "initContainers",
                        index,
                        container,
                    })
            })
    }

    /// The regular containers, with their place in the spec.
    pub fn containers(&self) -> impl Iterator<Item = ContainerRef<'_>> {
        self.pod_spec()
            .containers
            .iter()
            .enumerate()
            .map(|(index, container)| ContainerRef {
                list: "containers",
                index,
                container,
            })
    }

    /// Regular containers and native-sidecar init containers: what runs for
    /// the pod's whole life.
    pub fn long_running_containers(&self) -> impl Iterator<Item = ContainerRef<'_>> {
        let sidecars = self
            .pod_spec()
            .init_containers
            .iter()
            .enumerate()
            .filter(|(_, c)| c.restart_policy == "Always")
            .map(|(index, container)| ContainerRef {
                list: "initContainers",
                index,
                container,
            });
        self.containers().chain(sidecars)
    }
}

/// The name of the container Linkerd's injector adds.
pub const PROXY_CONTAINER: &str = "linkerd-proxy";

/// A container and where it sits (`containers[2]`).
#[derive(Debug, Clone, Copy)]
pub struct ContainerRef<'a> {
    pub list: &'static str,
    pub index: usize,
    pub container: &'a Container,
}

/// An object the rules cannot read: the field it failed at and why
/// (`spec.containers[0].args: invalid type: ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the object cannot be read: {0}")]
pub struct DecodeError(pub String);

pub(crate) fn decode_json<'de, T: ObjectFields<'de> + Default>(
    json: &'de str,
) -> Result<T, DecodeError> {
    decode_object(json).map_err(|error| {
        let (path, message) = crate::json_path::locate(json, &error);
        let path = path.strip_prefix('.').unwrap_or(&path);
        DecodeError(if path.is_empty() {
            message
        } else {
            format!("{path}: {message}")
        })
    })
}
