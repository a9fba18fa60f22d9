//! A compiled waPC module on wasmtime, run the way policy-server runs it: one
//! engine with epoch interruption, the module compiled once, a fresh
//! instance per evaluation (`rehydrate` + waPC init), host calls answered by
//! the harness's fake cluster.

use std::path::Path;
use std::sync::Arc;

use policy_harness::Cluster;
use wapc::WapcHost;
use wasmtime_provider::wasmtime::{Config, Engine, Module};
use wasmtime_provider::{
    EpochDeadlines, ResourceLimits, WasmtimeEngineProviderBuilder, WasmtimeEngineProviderPre,
};

use crate::BenchError;

/// Epoch interruption is on, as in policy-server, so every store needs a
/// deadline; nothing ticks the epoch here, so any deadline is never reached.
const DEADLINES: EpochDeadlines = EpochDeadlines {
    wapc_init: u64::MAX / 2,
    wapc_func: u64::MAX / 2,
};

/// WebAssembly pages are 64 KiB: linear memory grows by whole pages.
pub const PAGE: usize = 64 << 10;

pub struct WasmModule {
    pub name: String,
    pub size: usize,
    engine: Engine,
    module: Module,
    pre: WasmtimeEngineProviderPre,
    cluster: Arc<Cluster>,
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
        let pre = Self::pre(&engine, &module, None)?;
        Ok(Self {
            name: path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            size: bytes.len(),
            engine,
            module,
            pre,
            cluster,
        })
    }

    fn pre(
        engine: &Engine,
        module: &Module,
        limits: Option<ResourceLimits>,
    ) -> Result<WasmtimeEngineProviderPre, BenchError> {
        let mut builder = WasmtimeEngineProviderBuilder::new()
            .engine(engine.clone())
            .module(module.clone());
        if let Some(limits) = limits {
            builder = builder.enable_resource_limits(limits);
        }
        builder
            .build_pre()
            .map_err(|e| BenchError::Load(e.to_string()))
    }

    /// A fresh, initialised instance: what policy-server sets up per request.
    pub fn instantiate(&self) -> Result<WapcHost, BenchError> {
        instantiate(&self.pre, &self.cluster)
    }

    /// One request as policy-server evaluates it: fresh instance, one call.
    pub fn call_fresh(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>, BenchError> {
        call(&self.instantiate()?, operation, payload)
    }

    /// The smallest linear memory the call succeeds in, i.e. the peak size
    /// memory reaches during it: the Rust allocator aborts the guest when
    /// `memory.grow` is refused, so a call fits under a limit exactly when
    /// its memory never had to grow past it. Found by bisection on pages.
    pub fn peak_memory(&self, operation: &str, payload: &[u8]) -> Result<usize, BenchError> {
        // Unlimited first: a call that fails anyway has no peak to find.
        self.call_fresh(operation, payload)?;
        let fits = |pages: usize| -> Result<bool, BenchError> {
            let limits = ResourceLimits {
                max_memory_size: Some(pages * PAGE),
                max_table_elements: None,
            };
            let pre = Self::pre(&self.engine, &self.module, Some(limits))?;
            Ok(instantiate(&pre, &self.cluster)
                .and_then(|host| call(&host, operation, payload))
                .is_ok())
        };
        // The 32-bit address space holds 65,536 pages.
        let (mut too_small, mut enough) = (0usize, 1usize << 16);
        while enough - too_small > 1 {
            let middle = too_small + (enough - too_small) / 2;
            if fits(middle)? {
                enough = middle;
            } else {
                too_small = middle;
            }
        }
        Ok(enough * PAGE)
    }
}

fn instantiate(
    pre: &WasmtimeEngineProviderPre,
    cluster: &Arc<Cluster>,
) -> Result<WapcHost, BenchError> {
    let engine = pre
        .rehydrate(Some(DEADLINES))
        .map_err(|e| BenchError::Load(e.to_string()))?;
    let cluster = Arc::clone(cluster);
    let callback: Box<wapc::HostCallback> =
        Box::new(move |_module_id, binding, namespace, operation, payload| {
            cluster
                .host_call(binding, namespace, operation, payload)
                .map_err(Into::into)
        });
    WapcHost::new(Box::new(engine), Some(callback)).map_err(|e| BenchError::Load(e.to_string()))
}

/// Calls `operation` on an existing instance.
pub fn call(host: &WapcHost, operation: &str, payload: &[u8]) -> Result<Vec<u8>, BenchError> {
    host.call(operation, payload)
        .map_err(|e| BenchError::Guest(format!("{operation}: {e}")))
}
