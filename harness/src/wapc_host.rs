//! A waPC host on wasmtime, written against wasmtime directly so that the
//! harness builds only the parts of wasmtime a waPC host uses (no component
//! model, no async runtime, no wasmtime-wasi).
//!
//! It follows `wapc` 2.2 and `wasmtime-provider` 2.25, which policy-server
//! runs policies with:
//! - the guest imports the `wapc` functions below and exports
//!   `__guest_call(operation_len, payload_len) -> i32` (1 for success);
//! - after instantiation the host calls `_start` (TinyGo) and then
//!   `wapc_init`, each when exported; a WASI `proc_exit(0)` there is success;
//! - in a call, `__guest_request` copies the operation and the payload into
//!   guest memory, the guest answers with `__guest_response` or
//!   `__guest_error`, and `__host_call` asks the host, whose answer or error
//!   the guest reads with `__host_response(_len)` / `__host_error(_len)`;
//! - every start function and every call gets an epoch deadline.
//!
//! One difference: a guest pointer outside its memory traps with a message
//! instead of panicking the host.

use std::fmt;
use std::sync::Arc;

use wasmtime::{
    Caller, Engine, InstancePre, Linker, Module, Store, StoreLimits, StoreLimitsBuilder, Trap,
    TypedFunc,
};

use crate::guest_memory::{guest_memory, read_guest, read_guest_str, write_guest};
use crate::wasi;

/// The import module of the waPC host functions.
const WAPC_NAMESPACE: &str = "wapc";
/// The guest export the host calls for each operation.
const GUEST_CALL: &str = "__guest_call";
/// The guest exports called once after instantiation, in this order (as in
/// `wapc::wapc_functions::REQUIRED_STARTS`).
const START_FUNCTIONS: [&str; 2] = ["_start", "wapc_init"];

/// Answers the guest's `__host_call(binding, namespace, operation, payload)`:
/// the answer, or an error message the guest reads with `__host_error`.
pub type HostCallHandler = dyn Fn(&str, &str, &str, &[u8]) -> Result<Vec<u8>, String> + Send + Sync;

/// Why a waPC module could not be prepared, started or called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WapcError {
    /// An import could not be satisfied, or a host function not defined.
    #[error("cannot link the module: {0}")]
    Link(String),
    #[error("cannot instantiate the module: {0}")]
    Instantiate(String),
    #[error("the module does not export `__guest_call` as (i32, i32) -> i32: {0}")]
    NoGuestCall(String),
    /// A start function trapped or exited with a non-zero code.
    #[error("initialisation failed: `{function}`: {message}")]
    StartFailed { function: String, message: String },
    #[error("initialisation failed: `{function}` interrupted, execution deadline exceeded")]
    StartTimedOut { function: String },
    /// The operation or payload does not fit the guest's 32-bit lengths.
    #[error("the {what} of the call is {len} bytes, more than a 32-bit guest can take")]
    TooLarge { what: &'static str, len: usize },
    #[error("guest code interrupted, execution deadline exceeded")]
    CallTimedOut,
    #[error("guest call trapped: {0}")]
    CallTrapped(String),
    /// The guest reported a failure through `__guest_error`.
    #[error("guest call failure: {0}")]
    GuestError(String),
    #[error("guest call failure: no error message set for call failure")]
    NoErrorMessage,
    #[error("guest call failure: no error message or response set for call success")]
    NoResponse,
}

/// How one instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceLimits {
    /// Epoch ticks each start function and each call may run for. The engine
    /// must have epoch interruption on; the caller makes the epoch tick.
    pub deadline_ticks: u64,
    /// The largest linear memory the guest may grow to; `None` for no limit.
    pub max_memory_bytes: Option<usize>,
}

/// A module linked against the waPC and WASI host functions, ready to be
/// instantiated any number of times.
#[derive(Clone)]
pub struct WapcModule {
    instance_pre: InstancePre<GuestState>,
}

impl fmt::Debug for WapcModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WapcModule").finish_non_exhaustive()
    }
}

impl WapcModule {
    /// Links `module` (compiled on `engine`). Every import must be a waPC or
    /// WASI preview 1 function; WASI functions the sandbox does not provide
    /// link, and trap when called.
    pub fn new(engine: &Engine, module: &Module) -> Result<Self, WapcError> {
        let mut linker = Linker::new(engine);
        add_wapc_functions(&mut linker).map_err(|e| WapcError::Link(format!("{e:#}")))?;
        wasi::add_to_linker(&mut linker, module).map_err(|e| WapcError::Link(format!("{e:#}")))?;
        let instance_pre = linker
            .instantiate_pre(module)
            .map_err(|e| WapcError::Link(format!("{e:#}")))?;
        Ok(Self { instance_pre })
    }

    /// A fresh instance, its start functions run, whose host calls go to
    /// `host_calls`.
    pub fn instantiate(
        &self,
        host_calls: Arc<HostCallHandler>,
        limits: InstanceLimits,
    ) -> Result<WapcInstance, WapcError> {
        let mut memory_limits = StoreLimitsBuilder::new();
        if let Some(max) = limits.max_memory_bytes {
            memory_limits = memory_limits.memory_size(max);
        }
        let state = GuestState {
            host_calls,
            limits: memory_limits.build(),
            invocation: None,
            guest_response: None,
            guest_error: None,
            host_response: None,
            host_error: None,
        };
        let mut store = Store::new(self.instance_pre.module().engine(), state);
        store.limiter(|state| &mut state.limits);
        // A module's own start section runs while instantiating.
        store.set_epoch_deadline(limits.deadline_ticks);
        let instance = self
            .instance_pre
            .instantiate(&mut store)
            .map_err(|e| WapcError::Instantiate(format!("{e:#}")))?;
        let guest_call = instance
            .get_typed_func::<(u32, u32), i32>(&mut store, GUEST_CALL)
            .map_err(|e| WapcError::NoGuestCall(format!("{e:#}")))?;
        for function in START_FUNCTIONS {
            let Some(start) = instance.get_func(&mut store, function) else {
                continue;
            };
            let failed = |message: String| WapcError::StartFailed {
                function: function.to_owned(),
                message,
            };
            let start = start
                .typed::<(), ()>(&store)
                .map_err(|e| failed(format!("{e:#}")))?;
            store.set_epoch_deadline(limits.deadline_ticks);
            if let Err(error) = start.call(&mut store, ()) {
                if is_timeout(&error) {
                    return Err(WapcError::StartTimedOut {
                        function: function.to_owned(),
                    });
                }
                // WASI programs may end their start with `proc_exit(0)`.
                if error.downcast_ref::<wasi::GuestExit>() != Some(&wasi::GuestExit(0)) {
                    return Err(failed(format!("{error:#}")));
                }
            }
        }
        Ok(WapcInstance {
            store,
            guest_call,
            deadline_ticks: limits.deadline_ticks,
        })
    }
}

/// An instantiated, initialised guest.
pub struct WapcInstance {
    store: Store<GuestState>,
    guest_call: TypedFunc<(u32, u32), i32>,
    deadline_ticks: u64,
}

impl fmt::Debug for WapcInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WapcInstance")
            .field("deadline_ticks", &self.deadline_ticks)
            .finish_non_exhaustive()
    }
}

impl WapcInstance {
    /// Calls waPC operation `operation` with `payload`; returns the guest's
    /// response, or why there is none.
    pub fn call(&mut self, operation: &str, payload: &[u8]) -> Result<Vec<u8>, WapcError> {
        let operation_len = guest_len("operation", operation.len())?;
        let payload_len = guest_len("payload", payload.len())?;
        let state = self.store.data_mut();
        state.invocation = Some(Invocation {
            operation: operation.to_owned(),
            payload: payload.to_vec(),
        });
        state.guest_response = None;
        state.guest_error = None;
        state.host_response = None;
        state.host_error = None;

        self.store.set_epoch_deadline(self.deadline_ticks);
        let outcome = self
            .guest_call
            .call(&mut self.store, (operation_len, payload_len));
        let state = self.store.data_mut();
        match outcome {
            Err(error) if is_timeout(&error) => Err(WapcError::CallTimedOut),
            Err(error) => Err(WapcError::CallTrapped(format!("{error:#}"))),
            Ok(0) => Err(state
                .guest_error
                .take()
                .map_or(WapcError::NoErrorMessage, WapcError::GuestError)),
            Ok(_) => match (state.guest_response.take(), state.guest_error.take()) {
                (Some(response), _) => Ok(response),
                (None, Some(message)) => Err(WapcError::GuestError(message)),
                (None, None) => Err(WapcError::NoResponse),
            },
        }
    }
}

fn guest_len(what: &'static str, len: usize) -> Result<u32, WapcError> {
    u32::try_from(len).map_err(|_| WapcError::TooLarge { what, len })
}

fn is_timeout(error: &wasmtime::Error) -> bool {
    error.downcast_ref::<Trap>() == Some(&Trap::Interrupt)
}

/// The request of the call in progress.
struct Invocation {
    operation: String,
    payload: Vec<u8>,
}

/// What one instance's host functions share: the waPC buffers of the call in
/// progress, the host-call handler and the memory limit.
struct GuestState {
    host_calls: Arc<HostCallHandler>,
    limits: StoreLimits,
    invocation: Option<Invocation>,
    guest_response: Option<Vec<u8>>,
    guest_error: Option<String>,
    host_response: Option<Vec<u8>>,
    host_error: Option<String>,
}

/// A length as the guest's `i32` result; host answers are far below 4 GiB.
fn len_for_guest(bytes: Option<&[u8]>) -> u32 {
    bytes.map_or(0, |bytes| u32::try_from(bytes.len()).unwrap_or(u32::MAX))
}

fn add_wapc_functions(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        WAPC_NAMESPACE,
        "__guest_request",
        |mut caller: Caller<'_, GuestState>, operation_ptr: u32, payload_ptr: u32| {
            let memory = guest_memory(&mut caller)?;
            // Taken out for the copy and put back: the guest may ask again.
            let Some(invocation) = caller.data_mut().invocation.take() else {
                return Ok(());
            };
            let written = write_guest(&mut caller, memory, payload_ptr, &invocation.payload)
                .and_then(|()| {
                    write_guest(
                        &mut caller,
                        memory,
                        operation_ptr,
                        invocation.operation.as_bytes(),
                    )
                });
            caller.data_mut().invocation = Some(invocation);
            written
        },
    )?;
    linker.func_wrap(
        WAPC_NAMESPACE,
        "__guest_response",
        |mut caller: Caller<'_, GuestState>, ptr: u32, len: u32| {
            let memory = guest_memory(&mut caller)?;
            let response = read_guest(&caller, memory, ptr, len)?;
            caller.data_mut().guest_response = Some(response);
            Ok(())
        },
    )?;
    linker.func_wrap(
        WAPC_NAMESPACE,
        "__guest_error",
        |mut caller: Caller<'_, GuestState>, ptr: u32, len: u32| {
            let memory = guest_memory(&mut caller)?;
            let message = read_guest_str(&caller, memory, ptr, len, "error message")?;
            caller.data_mut().guest_error = Some(message);
            Ok(())
        },
    )?;
    linker.func_wrap(
        WAPC_NAMESPACE,
        "__host_call",
        |mut caller: Caller<'_, GuestState>,
         binding_ptr: u32,
         binding_len: u32,
         namespace_ptr: u32,
         namespace_len: u32,
         operation_ptr: u32,
         operation_len: u32,
         payload_ptr: u32,
         payload_len: u32|
         -> wasmtime::Result<i32> {
            let memory = guest_memory(&mut caller)?;
            let payload = read_guest(&caller, memory, payload_ptr, payload_len)?;
            let binding = read_guest_str(&caller, memory, binding_ptr, binding_len, "binding")?;
            let namespace =
                read_guest_str(&caller, memory, namespace_ptr, namespace_len, "namespace")?;
            let operation =
                read_guest_str(&caller, memory, operation_ptr, operation_len, "operation")?;
            let state = caller.data_mut();
            state.host_response = None;
            state.host_error = None;
            match (state.host_calls)(&binding, &namespace, &operation, &payload) {
                Ok(answer) => {
                    state.host_response = Some(answer);
                    Ok(1)
                }
                Err(message) => {
                    state.host_error = Some(message);
                    Ok(0)
                }
            }
        },
    )?;
    linker.func_wrap(
        WAPC_NAMESPACE,
        "__host_response_len",
        |caller: Caller<'_, GuestState>| len_for_guest(caller.data().host_response.as_deref()),
    )?;
    linker.func_wrap(
        WAPC_NAMESPACE,
        "__host_response",
        |mut caller: Caller<'_, GuestState>, ptr: u32| {
            let memory = guest_memory(&mut caller)?;
            let Some(answer) = caller.data_mut().host_response.take() else {
                return Ok(());
            };
            let written = write_guest(&mut caller, memory, ptr, &answer);
            caller.data_mut().host_response = Some(answer);
            written
        },
    )?;
    linker.func_wrap(
        WAPC_NAMESPACE,
        "__host_error_len",
        |caller: Caller<'_, GuestState>| {
            len_for_guest(caller.data().host_error.as_deref().map(str::as_bytes))
        },
    )?;
    linker.func_wrap(
        WAPC_NAMESPACE,
        "__host_error",
        |mut caller: Caller<'_, GuestState>, ptr: u32| {
            let memory = guest_memory(&mut caller)?;
            let Some(message) = caller.data_mut().host_error.take() else {
                return Ok(());
            };
            let written = write_guest(&mut caller, memory, ptr, message.as_bytes());
            caller.data_mut().host_error = Some(message);
            written
        },
    )?;
    // wasmtime-provider hands these to the `log` crate at info level, which
    // nothing in the harness or policy-server's default output shows; the
    // Kubewarden SDK logs through the `kubewarden`/`tracing` host call
    // instead. The message must still be readable.
    linker.func_wrap(
        WAPC_NAMESPACE,
        "__console_log",
        |mut caller: Caller<'_, GuestState>, ptr: u32, len: u32| {
            let memory = guest_memory(&mut caller)?;
            read_guest_str(&caller, memory, ptr, len, "console message").map(drop)
        },
    )?;
    Ok(())
}
