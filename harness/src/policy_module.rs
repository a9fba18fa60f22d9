//! Running a policy module the way policy-server does: waPC over wasmtime,
//! a fresh instance per evaluation, host calls answered by a [`Cluster`].

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use wasmtime::{Config, Engine, Module};

use crate::error::{GuestFailure, HarnessError};
use crate::verdict::{SettingsValidation, Verdict};
use crate::wapc_host::{HostCallHandler, InstanceLimits, WapcError, WapcInstance, WapcModule};
use cluster_sim::cluster::{Cluster, HostCall};

/// How long one epoch tick lasts; timeouts are counted in ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Deadline used when no timeout is wanted: centuries of ticks. Epoch
/// interruption is on engine-wide, so every store needs some deadline.
const NO_DEADLINE_TICKS: u64 = 1 << 40;

/// How a module is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Wall-clock limit of one guest call (and of the module's start
    /// functions), like policy-server's `--policy-timeout`; `None` for no limit.
    pub timeout: Option<Duration>,
}

impl Default for LoadOptions {
    /// A 10 second timeout: generous next to policy-server's 2 seconds, so
    /// that slow CI machines do not turn into flaky tests, while a guest stuck
    /// in a loop still fails instead of hanging the test run.
    fn default() -> Self {
        Self {
            timeout: Some(Duration::from_secs(10)),
        }
    }
}

/// A loaded policy module, bound to the fake cluster answering its host calls.
pub struct PolicyModule {
    wapc: WapcModule,
    limits: InstanceLimits,
    cluster: Arc<Cluster>,
}

impl fmt::Debug for PolicyModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyModule")
            .field("limits", &self.limits)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl PolicyModule {
    /// Loads the compiled module at `path`. WAT text is not compiled: the
    /// harness leaves wasmtime's text parser out of its build.
    pub fn load(path: &Path, cluster: Cluster) -> Result<Self, HarnessError> {
        Self::load_with(path, cluster, LoadOptions::default())
    }

    pub fn load_with(
        path: &Path,
        cluster: Cluster,
        options: LoadOptions,
    ) -> Result<Self, HarnessError> {
        let bytes = std::fs::read(path).map_err(|cause| HarnessError::Io {
            path: path.to_owned(),
            cause,
        })?;
        Self::from_bytes_with(&bytes, cluster, options)
    }

    pub fn from_bytes(bytes: &[u8], cluster: Cluster) -> Result<Self, HarnessError> {
        Self::from_bytes_with(bytes, cluster, LoadOptions::default())
    }

    /// Compiles (or reuses the compilation of) `bytes` and checks that the
    /// module instantiates and initialises.
    pub fn from_bytes_with(
        bytes: &[u8],
        cluster: Cluster,
        options: LoadOptions,
    ) -> Result<Self, HarnessError> {
        let engine = shared_engine()?;
        let module = compiled_module(engine, bytes)?;
        let wapc =
            WapcModule::new(engine, &module).map_err(|e| HarnessError::Load(e.to_string()))?;
        let ticks = options.timeout.map_or(NO_DEADLINE_TICKS, |timeout| {
            let ticks = timeout.as_nanos().div_ceil(EPOCH_TICK.as_nanos()).max(1);
            u64::try_from(ticks).unwrap_or(NO_DEADLINE_TICKS)
        });
        let policy = Self {
            wapc,
            limits: InstanceLimits {
                deadline_ticks: ticks,
                max_memory_bytes: None,
            },
            cluster: Arc::new(cluster),
        };
        // Fail at load time, not at the first call, if the module cannot start.
        if let Err(e) = policy.instantiate() {
            return Err(HarnessError::Load(e.to_string()));
        }
        Ok(policy)
    }

    /// Calls waPC operation `operation` with `payload` and returns the raw answer.
    ///
    /// Each call gets a fresh instance, as policy-server evaluates each request
    /// in a fresh instance: no state leaks from one call to the next, and a
    /// trap does not poison later calls.
    pub fn call(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>, HarnessError> {
        // Start functions run while instantiating: their traps and timeouts
        // are guest failures too.
        self.instantiate()
            .and_then(|mut instance| instance.call(operation, payload))
            .map_err(|e| {
                HarnessError::Guest(GuestFailure {
                    operation: operation.to_owned(),
                    message: e.to_string(),
                })
            })
    }

    /// The Kubewarden protocol version the policy speaks, e.g. `v1`.
    pub fn protocol_version(&self) -> Result<String, HarnessError> {
        self.call_json("protocol_version", &[])
    }

    pub fn validate_settings(&self, settings: &Value) -> Result<SettingsValidation, HarnessError> {
        self.validate_settings_raw(&encode("validate_settings", settings)?)
    }

    /// `validate_settings` with a payload of any bytes, for hostile-input tests.
    pub fn validate_settings_raw(
        &self,
        payload: &[u8],
    ) -> Result<SettingsValidation, HarnessError> {
        self.call_json("validate_settings", payload)
    }

    /// Evaluates `request` (an AdmissionRequest, see
    /// [`crate::admission_request`]) under `settings`.
    pub fn validate(&self, request: &Value, settings: &Value) -> Result<Verdict, HarnessError> {
        let payload = json!({"request": request, "settings": settings});
        self.validate_raw(&encode("validate", &payload)?)
    }

    /// `validate` with a payload of any bytes, for hostile-input tests.
    pub fn validate_raw(&self, payload: &[u8]) -> Result<Verdict, HarnessError> {
        self.call_json("validate", payload)
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The cluster, to change between calls. The record of host calls
    /// stays shared with clones made earlier.
    pub fn cluster_mut(&mut self) -> &mut Cluster {
        Arc::make_mut(&mut self.cluster)
    }

    /// The host calls the guest made so far (see [`Cluster::host_calls`]).
    pub fn host_calls(&self) -> Vec<HostCall> {
        self.cluster.host_calls()
    }

    pub fn clear_host_calls(&self) {
        self.cluster.clear_host_calls();
    }

    /// The log events the guest sent (see [`Cluster::guest_logs`]).
    pub fn guest_logs(&self) -> Vec<Value> {
        self.cluster.guest_logs()
    }

    /// A fresh, initialised instance whose host calls go to the cluster.
    fn instantiate(&self) -> Result<WapcInstance, WapcError> {
        self.wapc
            .instantiate(cluster_host_calls(&self.cluster), self.limits)
    }

    fn call_json<T: DeserializeOwned>(
        &self,
        operation: &str,
        payload: &[u8],
    ) -> Result<T, HarnessError> {
        let answer = self.call(operation, payload)?;
        serde_json::from_slice(&answer).map_err(|cause| HarnessError::BadAnswer {
            operation: operation.to_owned(),
            answer: String::from_utf8_lossy(&answer).into_owned(),
            cause,
        })
    }
}

/// Host calls answered by `cluster` (which records them); its errors reach
/// the guest as `__host_error` messages.
pub fn cluster_host_calls(cluster: &Arc<Cluster>) -> Arc<HostCallHandler> {
    let cluster = Arc::clone(cluster);
    Arc::new(
        move |binding: &str, namespace: &str, operation: &str, payload: &[u8]| {
            cluster
                .host_call(binding, namespace, operation, payload)
                .map_err(|e| e.to_string())
        },
    )
}

fn encode(operation: &str, value: &Value) -> Result<Vec<u8>, HarnessError> {
    serde_json::to_vec(value).map_err(|cause| HarnessError::Encode {
        operation: operation.to_owned(),
        cause,
    })
}

/// The engine every module runs on, with epoch interruption driven by a
/// background thread, as in policy-server. Sharing it lets compiled modules be
/// reused across [`PolicyModule`]s.
fn shared_engine() -> Result<&'static Engine, HarnessError> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = Config::new();
            config.epoch_interruption(true);
            let engine = Engine::new(&config).map_err(|e| e.to_string())?;
            let ticking = engine.clone();
            std::thread::Builder::new()
                .name("policy-harness-epoch".to_owned())
                .spawn(move || loop {
                    std::thread::sleep(EPOCH_TICK);
                    ticking.increment_epoch();
                })
                .map_err(|e| format!("cannot start the epoch thread: {e}"))?;
            Ok(engine)
        })
        .as_ref()
        .map_err(|e| HarnessError::Load(e.clone()))
}

/// How every binary WebAssembly module starts.
const WASM_MAGIC: &[u8] = b"\0asm";

/// Compiles `bytes`, once per distinct module per process: compiling a policy
/// takes seconds in a debug build, and tests load the same one often.
fn compiled_module(engine: &Engine, bytes: &[u8]) -> Result<Module, HarnessError> {
    static MODULES: OnceLock<Mutex<HashMap<Vec<u8>, Module>>> = OnceLock::new();
    // The lock is held while compiling, so that tests starting together wait
    // for one compilation instead of each running their own. A poisoned lock
    // still guards a valid map: entries are only ever inserted whole.
    let mut modules = MODULES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(module) = modules.get(bytes) {
        return Ok(module.clone());
    }
    if !bytes.starts_with(WASM_MAGIC) {
        return Err(HarnessError::Load(
            "not a binary WebAssembly module (the harness does not compile WAT text: \
             convert it first, e.g. with `wasm-tools parse`)"
                .to_owned(),
        ));
    }
    let module = Module::new(engine, bytes).map_err(|e| HarnessError::Load(format!("{e:#}")))?;
    modules.insert(bytes.to_vec(), module.clone());
    Ok(module)
}

#[cfg(test)]
mod tests {
    //! Hand-written waPC guests in WAT stand in for the policy here.

    use super::*;
    use crate::cluster::ObjectKind;

    /// A waPC guest whose `__guest_call` runs `body`, with `data` strings
    /// placed in memory at the given offsets. The request's operation is
    /// read to offset 0 and its payload to offset 4096; host answers go to 32768.
    fn guest(body: &str, data: &[(u32, &str)]) -> Vec<u8> {
        wat::parse_str(guest_text(body, data)).expect("valid WAT")
    }

    fn guest_text(body: &str, data: &[(u32, &str)]) -> String {
        let data: String = data
            .iter()
            .map(|(offset, text)| format!("(data (i32.const {offset}) \"{}\")\n", wat_escape(text)))
            .collect();
        format!(
            r#"(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wapc" "__host_call" (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response_len" (func $host_response_len (result i32)))
  (import "wapc" "__host_response" (func $host_response (param i32)))
  (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (memory (export "memory") 2)
  {data}
  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    (call $guest_request (i32.const 0) (i32.const 4096))
    {body}))"#
        )
    }

    fn wat_escape(text: &str) -> String {
        text.bytes().map(|b| format!("\\{b:02x}")).collect()
    }

    /// A guest answering `answer` to every call.
    fn answering(answer: &str) -> Vec<u8> {
        let body = format!(
            "(call $guest_response (i32.const 1024) (i32.const {})) (i32.const 1)",
            answer.len()
        );
        guest(&body, &[(1024, answer)])
    }

    /// A guest answering every call with its payload.
    fn echo() -> Vec<u8> {
        guest(
            "(call $guest_response (i32.const 4096) (local.get $msg_len)) (i32.const 1)",
            &[],
        )
    }

    /// A guest making one host call and answering what the host answered.
    fn host_caller(binding: &str, namespace: &str, operation: &str, payload: &str) -> Vec<u8> {
        let strings = [binding, namespace, operation, payload];
        let mut offset = 1024;
        let mut data = Vec::new();
        let mut args = String::new();
        for text in strings {
            data.push((offset, text));
            args.push_str(&format!("(i32.const {offset}) (i32.const {}) ", text.len()));
            offset += u32::try_from(text.len()).expect("small") + 16;
        }
        let body = format!(
            "(if (result i32) (call $host_call {args})
               (then (call $host_response (i32.const 32768))
                     (call $guest_response (i32.const 32768) (call $host_response_len))
                     (i32.const 1))
               (else (call $host_error (i32.const 32768))
                     (call $guest_error (i32.const 32768) (call $host_error_len))
                     (i32.const 0)))"
        );
        guest(&body, &data)
    }

    fn load(bytes: &[u8]) -> PolicyModule {
        PolicyModule::from_bytes(bytes, Cluster::default()).expect("loads")
    }

    #[test]
    fn decodes_protocol_version_settings_and_verdicts() {
        assert_eq!(
            load(&answering("\"v1\"")).protocol_version().ok(),
            Some("v1".to_owned())
        );

        let settings = load(&answering(r#"{"valid":false,"message":"bad"}"#))
            .validate_settings(&json!({}))
            .expect("answers");
        assert_eq!(
            settings,
            SettingsValidation {
                valid: false,
                message: Some("bad".to_owned())
            }
        );

        let verdict = load(&answering(
            r#"{"accepted":false,"message":"no","code":400,"mutated_object":null,"audit_annotations":null,"warnings":null}"#,
        ))
        .validate(&json!({}), &json!({}))
        .expect("answers");
        assert!(!verdict.accepted);
        assert_eq!(verdict.message.as_deref(), Some("no"));
    }

    #[test]
    fn validate_sends_request_and_settings() {
        let module = load(&echo());
        let request = json!({"uid": "u", "operation": "CREATE"});
        let settings = json!({"minReplicas": 3});
        let answer = module
            .call(
                "validate",
                &encode(
                    "validate",
                    &json!({"request": request, "settings": settings}),
                )
                .expect("encodes"),
            )
            .expect("echoes");
        let echoed: Value = serde_json::from_slice(&answer).expect("JSON");
        assert_eq!(echoed, json!({"request": request, "settings": settings}));

        // An echo is not a verdict.
        assert!(matches!(
            module.validate(&request, &settings),
            Err(HarnessError::BadAnswer { .. })
        ));
    }

    #[test]
    fn traps_and_guest_errors_are_guest_failures() {
        let trapping = load(&guest("unreachable", &[]));
        let error = trapping.validate_raw(b"{}").expect_err("traps");
        assert!(
            matches!(error, HarnessError::Guest(GuestFailure { ref operation, .. }) if operation == "validate")
        );
        // A fresh instance per call: the module still works afterwards.
        assert!(matches!(
            trapping.validate_raw(b"{}"),
            Err(HarnessError::Guest(_))
        ));

        let failing = load(&guest(
            "(call $guest_error (i32.const 1024) (i32.const 4)) (i32.const 0)",
            &[(1024, "oops")],
        ));
        match failing.protocol_version() {
            Err(HarnessError::Guest(failure)) => assert!(failure.message.contains("oops")),
            other => panic!("expected a guest failure, got {other:?}"),
        }

        // A pointer outside the guest's memory traps the guest, not the host.
        let overreaching = load(&guest(
            "(call $guest_response (i32.const 131000) (i32.const 1000)) (i32.const 1)",
            &[],
        ));
        match overreaching.validate_raw(b"{}") {
            Err(HarnessError::Guest(failure)) => {
                assert!(
                    failure.message.contains("outside its memory"),
                    "{}",
                    failure.message
                );
            }
            other => panic!("expected a guest failure, got {other:?}"),
        }
    }

    #[test]
    fn endless_guests_time_out() {
        let options = LoadOptions {
            timeout: Some(Duration::from_millis(100)),
        };
        let looping = PolicyModule::from_bytes_with(
            &guest("(loop (br 0)) (i32.const 1)", &[]),
            Cluster::default(),
            options,
        )
        .expect("loads");
        match looping.validate_raw(b"{}") {
            Err(HarnessError::Guest(failure)) => {
                assert!(failure.message.contains("deadline"), "{}", failure.message);
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
    }

    #[test]
    fn host_calls_reach_the_cluster_and_are_recorded() {
        let namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "linkerd"}});
        let request = json!({
            "api_version": "v1", "kind": "Namespace", "name": "linkerd",
            "namespace": null, "disable_cache": false, "field_masks": null,
        });
        let bytes = host_caller(
            "kubewarden",
            "kubernetes",
            "get_resource",
            &request.to_string(),
        );
        let mut module =
            PolicyModule::from_bytes(&bytes, Cluster::default().with_object(namespace.clone()))
                .expect("loads");

        let answer = module.call("validate", b"{}").expect("answers");
        assert_eq!(
            serde_json::from_slice::<Value>(&answer).ok(),
            Some(namespace)
        );
        let calls = module.host_calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].operation, "get_resource");
        assert_eq!(calls[0].payload, request);

        // The host's error reaches the guest, which reports it as its own.
        module.clear_host_calls();
        module
            .cluster_mut()
            .set_failing(ObjectKind::Namespace, true);
        match module.call("validate", b"{}") {
            Err(HarnessError::Guest(failure)) => assert!(failure.message.contains("forbidden")),
            other => panic!("expected the host error, got {other:?}"),
        }
        assert_eq!(module.host_calls().len(), 1);
    }

    #[test]
    fn invalid_modules_fail_to_load() {
        assert!(matches!(
            PolicyModule::from_bytes(b"not wasm", Cluster::default()),
            Err(HarnessError::Load(_))
        ));
        // Instantiation fails: the required waPC export is missing.
        assert!(matches!(
            PolicyModule::from_bytes(
                &wat::parse_str("(module)").expect("valid WAT"),
                Cluster::default()
            ),
            Err(HarnessError::Load(_))
        ));
        // WAT text is not compiled, and the error says so.
        match PolicyModule::from_bytes(
            guest_text("(i32.const 1)", &[]).as_bytes(),
            Cluster::default(),
        ) {
            Err(HarnessError::Load(message)) => assert!(message.contains("WAT"), "{message}"),
            other => panic!("expected a load error, got {other:?}"),
        }
        assert!(matches!(
            PolicyModule::load(Path::new("/nonexistent.wasm"), Cluster::default()),
            Err(HarnessError::Io { .. })
        ));
    }
}
