//! The module asks for no more than it needs: its imports are the waPC
//! host functions and the few WASI calls Rust's standard library links in
//! (no filesystem, no sockets, no clocks, no environment, no exit), and the context-aware resources
//! it declares in `metadata.yml` are exactly the kinds it reads.

mod common;

use std::collections::BTreeSet;

use common::*;
use linkerd_ha_policy::workload::WorkloadKind;
use policy_harness::{admission_request, Cluster};
use serde_json::{json, Value};
use wasmparser::{Parser, Payload, TypeRef};

/// Every import the module may have, and why it is harmless.
const ALLOWED_IMPORTS: &[(&str, &str, &str)] = &[
    // waPC: how policy-server hands a request in and takes the answer out.
    (
        "wapc",
        "__guest_request",
        "copies the operation and payload into guest memory",
    ),
    ("wapc", "__guest_response", "hands the answer to the host"),
    ("wapc", "__guest_error", "hands an error to the host"),
    // waPC host calls: the only way out, and only to the capabilities
    // policy-server grants (here: Kubernetes reads of the declared kinds).
    ("wapc", "__host_call", "asks the host (Kubernetes lookups)"),
    ("wapc", "__host_response", "reads the host's answer"),
    ("wapc", "__host_response_len", "sizes the host's answer"),
    ("wapc", "__host_error", "reads the host's error"),
    ("wapc", "__host_error_len", "sizes the host's error"),
    (
        "wapc",
        "__console_log",
        "waPC logging (unused by the SDK, allowed by the protocol)",
    ),
    // WASI preview 1, as linked by Rust's std for wasm32-wasip1:
    (
        "wasi_snapshot_preview1",
        "fd_write",
        "std's stderr, written only by the panic message",
    ),
    (
        "wasi_snapshot_preview1",
        "random_get",
        "seeds std's HashMap hasher (RandomState)",
    ),
    // Not environ_get, environ_sizes_get nor proc_exit: std's panic hook
    // asks libc's getenv for RUST_BACKTRACE, and the module's own getenv
    // (src/lib.rs) answers without wasi-libc's environment set-up.
];

/// What the module exports: its memory and the waPC entry points.
const EXPECTED_EXPORTS: &[&str] = &["memory", "wapc_init", "__guest_call"];

#[derive(Debug, Default)]
struct Interface {
    /// (module, name, what kind of import)
    imports: Vec<(String, String, &'static str)>,
    exports: BTreeSet<String>,
}

fn interface(wasm: &[u8]) -> Interface {
    let mut interface = Interface::default();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.expect("the module parses") {
            Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    let import = import.expect("the import parses");
                    let kind = match import.ty {
                        TypeRef::Func(_) | TypeRef::FuncExact(_) => "function",
                        TypeRef::Memory(_) => "memory",
                        TypeRef::Table(_) => "table",
                        TypeRef::Global(_) => "global",
                        TypeRef::Tag(_) => "tag",
                    };
                    interface.imports.push((
                        import.module.to_string(),
                        import.name.to_string(),
                        kind,
                    ));
                }
            }
            Payload::ExportSection(section) => {
                for export in section {
                    interface
                        .exports
                        .insert(export.expect("the export parses").name.to_string());
                }
            }
            _ => {}
        }
    }
    interface
}

#[test]
fn the_module_imports_only_wapc_and_minimal_wasi() {
    let path = wasm_path();
    let wasm = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (build it with `make build`)", path.display()));
    let interface = interface(&wasm);
    println!("{} imports:", path.display());
    let mut refused = Vec::new();
    for (module, name, kind) in &interface.imports {
        let allowed = ALLOWED_IMPORTS
            .iter()
            .find(|(m, n, _)| m == module && n == name);
        match allowed {
            Some((_, _, why)) if *kind == "function" => println!("  {module}.{name}: {why}"),
            _ => {
                println!("  {module}.{name} ({kind}): NOT ALLOWED");
                refused.push(format!("{module}.{name} ({kind})"));
            }
        }
    }
    assert!(
        refused.is_empty(),
        "the module imports more than waPC and minimal WASI: {refused:?}. Filesystem (path_*, fd_read, fd_prestat_*), sockets (sock_*), clocks, the environment (environ_*), exit (proc_exit) and the like must not be linked in"
    );
    // Nothing the policy needs has gone missing either: waPC's core.
    for needed in ["__guest_request", "__guest_response", "__guest_error"] {
        assert!(
            interface
                .imports
                .iter()
                .any(|(m, n, _)| m == "wapc" && n == needed),
            "wapc.{needed} is not imported: is this a waPC module?"
        );
    }
    let expected: BTreeSet<String> = EXPECTED_EXPORTS.iter().map(|e| e.to_string()).collect();
    assert_eq!(interface.exports, expected, "exports");
}

/// The allow-list check itself refuses what it should.
#[test]
fn the_import_check_refuses_filesystem_sockets_clocks_environment_and_exit() {
    let module = module_importing(&[
        ("wasi_snapshot_preview1", "path_open"),
        ("wasi_snapshot_preview1", "sock_accept"),
        ("wasi_snapshot_preview1", "clock_time_get"),
        ("wasi_snapshot_preview1", "environ_get"),
        ("wasi_snapshot_preview1", "environ_sizes_get"),
        ("wasi_snapshot_preview1", "proc_exit"),
        ("wapc", "__guest_request"),
    ]);
    let interface = interface(&module);
    let refused: Vec<&str> = interface
        .imports
        .iter()
        .filter(|(m, n, _)| !ALLOWED_IMPORTS.iter().any(|(am, an, _)| am == m && an == n))
        .map(|(_, n, _)| n.as_str())
        .collect();
    assert_eq!(
        refused,
        [
            "path_open",
            "sock_accept",
            "clock_time_get",
            "environ_get",
            "environ_sizes_get",
            "proc_exit"
        ]
    );
}

/// A binary module importing `imports` as functions of type `() -> ()`,
/// encoded by hand: the test needs no WAT parser.
fn module_importing(imports: &[(&str, &str)]) -> Vec<u8> {
    fn name(out: &mut Vec<u8>, text: &str) {
        out.push(u8::try_from(text.len()).expect("short name"));
        out.extend_from_slice(text.as_bytes());
    }
    fn section(out: &mut Vec<u8>, id: u8, body: &[u8]) {
        out.push(id);
        // The size, as unsigned LEB128.
        let mut size = body.len();
        loop {
            let byte = u8::try_from(size & 0x7f).expect("seven bits");
            size >>= 7;
            if size == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(body);
    }
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(&mut module, 1, &[1, 0x60, 0, 0]);
    let mut body = vec![u8::try_from(imports.len()).expect("few imports")];
    for (module_name, field) in imports {
        name(&mut body, module_name);
        name(&mut body, field);
        body.extend_from_slice(&[0, 0]); // a function of type 0
    }
    section(&mut module, 2, &body);
    module
}

/// (apiVersion, kind) pairs.
type Resources = BTreeSet<(String, String)>;

fn resources(pairs: &[(&str, &str)]) -> Resources {
    pairs
        .iter()
        .map(|(v, k)| (v.to_string(), k.to_string()))
        .collect()
}

fn declared(list: &Value) -> Resources {
    list.as_array()
        .expect("contextAwareResources is a list")
        .iter()
        .map(|entry| {
            (
                entry["apiVersion"]
                    .as_str()
                    .expect("apiVersion")
                    .to_string(),
                entry["kind"].as_str().expect("kind").to_string(),
            )
        })
        .collect()
}

/// The lookups src/host.rs makes: each request names an `api_version`
/// and then a `kind`, or (the control plane's workloads) takes its kinds
/// from `WorkloadKind::CRITICAL`, all of them at `apps/v1`.
fn read_by_the_code() -> Resources {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/host.rs"))
        .expect("src/host.rs");
    let quoted_after = |line: &str, field: &str| -> Option<String> {
        let rest = line.trim().strip_prefix(field)?.trim_start();
        let rest = rest.strip_prefix('"')?;
        Some(rest[..rest.find('"')?].to_string())
    };
    let mut found = Resources::new();
    let mut api_version = None;
    if source.contains("WorkloadKind::CRITICAL") {
        for kind in WorkloadKind::CRITICAL {
            assert_eq!(
                WorkloadKind::from_group_kind("apps", kind.name()),
                Some(kind)
            );
            found.insert(("apps/v1".to_string(), kind.name().to_string()));
        }
    }
    for line in source.lines() {
        if let Some(version) = quoted_after(line, "api_version:") {
            api_version = Some(version);
        } else if let Some(kind) = quoted_after(line, "kind:") {
            let version = api_version
                .take()
                .unwrap_or_else(|| panic!("src/host.rs: kind {kind:?} without an api_version"));
            found.insert((version, kind));
        }
    }
    found
}

#[test]
fn context_aware_resources_are_exactly_what_the_code_reads() {
    let expected = resources(&[
        ("v1", "Namespace"),
        ("policy/v1", "PodDisruptionBudget"),
        ("v1", "Node"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
    ]);
    assert_eq!(read_by_the_code(), expected, "src/host.rs lookups");

    let metadata: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/metadata.yml"))
            .expect("metadata.yml"),
    )
    .expect("metadata.yml is YAML");
    assert_eq!(
        declared(&metadata["contextAwareResources"]),
        expected,
        "metadata.yml contextAwareResources"
    );

    // Each policy in policy.yaml declares a subset (the validating instance
    // needs only Namespaces).
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/policy.yaml"))
        .expect("policy.yaml");
    for document in policy_harness::manifests::load_yaml_documents(&text).expect("policy.yaml") {
        let list = &document["spec"]["contextAwareResources"];
        if !list.is_null() {
            let resources = declared(list);
            assert!(
                resources.is_subset(&expected),
                "{}: {resources:?} goes beyond {expected:?}",
                document["metadata"]["name"]
            );
        }
    }
}

/// What the module actually asks for, over Linkerd's manifests and every
/// workload kind, stays within what metadata.yml declares.
#[test]
fn host_calls_stay_within_the_declared_resources() {
    let install = linkerd_fixture("install_ha_output.golden");
    let cluster = Cluster::from_objects(install.iter().cloned().chain(nodes(3)).chain([
        namespace("shop", json!({}), json!({})),
        namespace(
            "emojivoto",
            json!({"linkerd.io/inject": "enabled"}),
            json!({}),
        ),
    ]));
    let module = load(cluster);
    let mut objects = install;
    objects.extend(test_data("workloads.yaml"));
    objects.extend(linkerd_fixture("inject_emojivoto_deployment.input.yml"));
    let declared = resources(&[
        ("v1", "Namespace"),
        ("policy/v1", "PodDisruptionBudget"),
        ("v1", "Node"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
    ]);
    for object in &objects {
        module
            .validate(&admission_request(object, "CREATE"), &json!({}))
            .unwrap_or_else(|e| panic!("{}: {e}", describe(object)));
    }
    // A Node deleted: the control plane's workloads, then the Nodes.
    let node = &nodes(3)[2];
    module
        .validate(&admission_request(node, "DELETE"), &json!({}))
        .expect("a Node DELETE");
    let calls = module.host_calls();
    assert!(
        !calls.is_empty(),
        "no lookups were made: the test proves nothing"
    );
    for call in &calls {
        assert_eq!(
            (call.binding.as_str(), call.namespace.as_str()),
            ("kubewarden", "kubernetes"),
            "{call:?}"
        );
        let asked = (
            call.payload["api_version"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            call.kind().unwrap_or_default().to_string(),
        );
        assert!(
            declared.contains(&asked),
            "undeclared lookup {asked:?}: {call:?}"
        );
    }
    println!(
        "{} requests made {} lookups, all of declared kinds",
        objects.len(),
        calls.len()
    );
}
