//! What the README (and through it artifacthub-pkg.yml) shows the policy
//! answering, produced here by the built module through waPC as Kubewarden
//! runs it: a rejection, a mutation with the rules that made it, and a
//! node warning. The test fails when the README's block differs from what
//! the module says now (regenerate with `UPDATE_DOCS=1 cargo test --test
//! answers_shown`, then `cargo run -p policy-release -- artifacthub`).

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::*;
use policy_harness::{AdmissionRequestBuilder, Cluster, Outcome, PolicyModule};
use serde_json::{json, Value};

const BEGIN: &str = "<!-- answers: begin (tests/answers_shown.rs) -->";
const END: &str = "<!-- answers: end -->";

fn cluster() -> Cluster {
    Cluster::from_objects(
        linkerd_fixture("install_ha_output.golden")
            .into_iter()
            .chain(nodes(3))
            .chain([namespace(
                "shop",
                json!({"linkerd.io/inject": "enabled"}),
                json!({}),
            )]),
    )
}

/// `linkerd-destination` scaled down to one replica, as a hand-edited
/// manifest might have it.
fn one_destination() -> Value {
    let mut destination = linkerd_fixture("install_ha_output.golden")
        .into_iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "linkerd-destination")
        .expect("linkerd-destination in Linkerd's HA install");
    destination["spec"]["replicas"] = json!(1);
    destination
}

fn meshed_web() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "web", "image": "web:1.0"}]}}}})
}

fn node(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-2"}, "spec": spec})
}

/// The block, in Markdown, from the module's own answers.
fn answers(module: &PolicyModule) -> String {
    let settings = policy_settings("linkerd-ha-mutating");
    let mut block = String::new();

    let rejected = create(module, &one_destination(), &settings);
    assert_eq!(rejected.outcome(), Outcome::Rejected);
    let _ = write!(
        block,
        "**A rejection.** `kubectl apply` of Linkerd's `linkerd-destination` with \
         `replicas: 1` prints `admission webhook \"clusterwide-linkerd-ha-mutating.kubewarden.admission\" \
         denied the request:` and then:\n\n```text\n{}\n```\n\n",
        rejected.message.as_deref().unwrap_or_default()
    );

    let web = meshed_web();
    let mutated = create(module, &web, &settings);
    assert_eq!(mutated.outcome(), Outcome::Mutated);
    let patch = serde_json::to_string_pretty(&mutated.patch(&web).expect("a patch")).unwrap();
    let annotations = serde_json::to_string_pretty(
        mutated
            .audit_annotations
            .as_ref()
            .expect("audit annotations"),
    )
    .unwrap();
    let _ = write!(
        block,
        "**A mutation.** A Deployment in a namespace annotated `linkerd.io/inject: enabled`, \
         without the autoscaler's annotation, is admitted with this JSON patch:\n\n\
         ```json\n{patch}\n```\n\n\
         and these audit annotations, which the API server's audit log records under \
         the webhook's name (`clusterwide-linkerd-ha-mutating.kubewarden.admission/mutated-by`):\n\n\
         ```json\n{annotations}\n```\n\n"
    );

    let request = AdmissionRequestBuilder::new(&node(json!({"unschedulable": true})), "UPDATE")
        .old_object(&node(json!({})))
        .build();
    let warned = module
        .validate(&request, &policy_settings("linkerd-ha-nodes"))
        .expect("a verdict");
    assert_eq!(warned.outcome(), Outcome::Accepted);
    assert_eq!(warned.warnings().len(), 1, "{warned:?}");
    let _ = write!(
        block,
        "**A node warning.** `kubectl cordon node-2` on a three-node cluster running \
         Linkerd in HA mode cordons the node and prints:\n\n```text\nWarning: {}\n```\n",
        warned.warnings()[0]
    );
    block
}

#[test]
fn the_readme_shows_what_the_module_answers() {
    let module = load(cluster());
    let block = answers(&module);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let (Some(start), Some(end)) = (readme.find(BEGIN), readme.find(END)) else {
        panic!("README.md lacks the {BEGIN} … {END} block");
    };
    let inside = &readme[start + BEGIN.len()..end];
    let wanted = format!("\n{block}");
    if inside == wanted {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let updated = format!(
            "{}{wanted}{}",
            &readme[..start + BEGIN.len()],
            &readme[end..]
        );
        std::fs::write(&path, updated).expect("README.md written");
        return;
    }
    panic!(
        "README.md's answers differ from what the module says; regenerate with \
         UPDATE_DOCS=1 cargo test --test answers_shown, then cargo run -p policy-release -- artifacthub.\n\
         The module says:\n{block}"
    );
}
