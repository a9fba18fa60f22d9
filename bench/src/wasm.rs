//! A compiled waPC module on wasmtime, run the way policy-server runs it: one
//! engine with epoch interruption, the module compiled once, a fresh
//! instance per evaluation (instantiation + waPC init, by the harness's waPC
//! host), host calls answered by the harness's fake cluster.

use std::path::Path;
use std::sync::Arc;

use policy_harness::wapc_host::{HostCallHandler, InstanceLimits, WapcInstance, WapcModule};
use policy_harness::Cluster;
use wasmtime::{Config, Engine, Module};

use crate::BenchError;

/// Epoch interruption is on, as in policy-server, so every store needs a
/// deadline; nothing ticks the epoch here, so any deadline is never reached.
const UNLIMITED: InstanceLimits = InstanceLimits {
    deadline_ticks: u64::MAX / 2,
    max_memory_bytes: None,
};

/// WebAssembly pages are 64 KiB: linear memory grows by whole pages.
pub const PAGE: usize = 64 << 10;

pub struct WasmModule {
    pub name: String,
    pub size: usize,
    wapc: WapcModule,
    host_calls: Arc<HostCallHandler>,
}

impl WasmModule {
    pub fn load(path: &Path, cluster: Arc<Cluster>) -> Result<Self, BenchError> {
        let bytes = std::fs::read(path).map_err(|cause| BenchError::Io {
            path: path.to_owned(),
            cause,
        })?;
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| BenchError::Load(format!("{e:#}")))?;
        let module =
            Module::new(&engine, &bytes).map_err(|e| BenchError::Load(format!("{e:#}")))?;
        let wapc =
            WapcModule::new(&engine, &module).map_err(|e| BenchError::Load(e.to_string()))?;
        Ok(Self {
            name: path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            size: bytes.len(),
            wapc,
            host_calls: policy_harness::cluster_host_calls(&cluster),
        })
    }

    /// A fresh, initialised instance: what policy-server sets up per request.
    pub fn instantiate(&self) -> Result<WapcInstance, BenchError> {
        self.instantiate_with(UNLIMITED)
    }

    fn instantiate_with(&self, limits: InstanceLimits) -> Result<WapcInstance, BenchError> {
        self.wapc
            .instantiate(Arc::clone(&self.host_calls), limits)
            .map_err(|e| BenchError::Load(e.to_string()))
    }

    /// One request as policy-server evaluates it: fresh instance, one call.
    pub fn call_fresh(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>, BenchError> {
        call(&mut self.instantiate()?, operation, payload)
    }

    /// The smallest linear memory the call succeeds in, i.e. the peak size
    /// memory reaches during it: the Rust allocator aborts the guest when
    /// `memory.grow` is refused, so a call fits under a limit exactly when
    /// its memory never had to grow past it. Found by bisection on pages.
    pub fn peak_memory(&self, operation: &str, payload: &[u8]) -> Result<usize, BenchError> {
        // Unlimited first: a call that fails anyway has no peak to find.
        self.call_fresh(operation, payload)?;
        let fits = |pages: usize| -> bool {
            let limits = InstanceLimits {
                max_memory_bytes: Some(pages * PAGE),
                ..UNLIMITED
            };
            self.instantiate_with(limits)
                .and_then(|mut instance| call(&mut instance, operation, payload))
                .is_ok()
        };
        // The 32-bit address space holds 65,536 pages.
        let (mut too_small, mut enough) = (0usize, 1usize << 16);
        while enough - too_small > 1 {
            let middle = too_small + (enough - too_small) / 2;
            if fits(middle) {
                enough = middle;
            } else {
                too_small = middle;
            }
        }
        Ok(enough * PAGE)
    }
}

/// Calls `operation` on an existing instance.
pub fn call(
    instance: &mut WapcInstance,
    operation: &str,
    payload: &[u8],
) -> Result<Vec<u8>, BenchError> {
    instance
        .call(operation, payload)
        .map_err(|e| BenchError::Guest(format!("{operation}: {e}")))
}
