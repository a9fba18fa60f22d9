//! The few WASI preview 1 calls a waPC policy built by Rust's std makes, as a
//! sandbox: no filesystem, no sockets, no clocks, an empty environment and
//! argument list, stdout and stderr going to the host's, randomness from the
//! OS. Any other `wasi_snapshot_preview1` function a module imports links,
//! and traps naming itself when called, so a module using more of WASI than
//! this fails clearly instead of at load time or silently.
//!
//! (wasmtime-wasi gives the whole of WASI but builds on the component model
//! and an async runtime, which the harness otherwise does without; no other
//! maintained crate gives preview 1 to core modules on current wasmtime.)

use std::io::Write;

use wasmtime::{format_err, Caller, ExternType, Linker, Module};

use crate::guest_memory::{guest_memory, read_guest, write_guest};

const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// WASI errno values (wasi_snapshot_preview1's `errno` enum).
mod errno {
    pub const SUCCESS: i32 = 0;
    pub const BADF: i32 = 8;
    pub const FAULT: i32 = 21;
    pub const IO: i32 = 29;
}

/// What [`add_to_linker`] defines itself.
const PROVIDED: [&str; 7] = [
    "fd_write",
    "random_get",
    "environ_sizes_get",
    "args_sizes_get",
    "environ_get",
    "args_get",
    "proc_exit",
];

const STDOUT: u32 = 1;
const STDERR: u32 = 2;

/// `proc_exit(code)`: ends the guest by unwinding out of wasm. The waPC host
/// reads exit code 0 in a start function as success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the guest exited with code {0}")]
pub(crate) struct GuestExit(pub(crate) u32);

/// Defines the sandbox's WASI functions in `linker`, and a trapping stand-in
/// for each other WASI function `module` imports.
pub(crate) fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    module: &Module,
) -> wasmtime::Result<()> {
    linker.func_wrap(WASI_MODULE, "fd_write", fd_write::<T>)?;
    linker.func_wrap(WASI_MODULE, "random_get", random_get::<T>)?;
    // An empty environment and argument list: zero entries, zero bytes.
    for sizes in ["environ_sizes_get", "args_sizes_get"] {
        linker.func_wrap(
            WASI_MODULE,
            sizes,
            |mut caller: Caller<'_, T>, count_ptr: u32, bytes_ptr: u32| -> wasmtime::Result<i32> {
                let memory = guest_memory(&mut caller)?;
                let zero = 0u32.to_le_bytes();
                let written = write_guest(&mut caller, memory, count_ptr, &zero)
                    .and_then(|()| write_guest(&mut caller, memory, bytes_ptr, &zero));
                Ok(if written.is_ok() {
                    errno::SUCCESS
                } else {
                    errno::FAULT
                })
            },
        )?;
    }
    for get in ["environ_get", "args_get"] {
        linker.func_wrap(WASI_MODULE, get, |_: u32, _: u32| errno::SUCCESS)?;
    }
    linker.func_wrap(
        WASI_MODULE,
        "proc_exit",
        |code: u32| -> wasmtime::Result<()> { Err(wasmtime::Error::new(GuestExit(code))) },
    )?;

    for import in module.imports() {
        let ExternType::Func(signature) = import.ty() else {
            continue;
        };
        let name = import.name();
        if import.module() != WASI_MODULE || PROVIDED.contains(&name) {
            continue;
        }
        let message = format!(
            "the guest called WASI `{name}`, which the harness does not provide \
             (its sandbox has no filesystem, sockets, clocks or environment)"
        );
        linker.func_new(WASI_MODULE, name, signature, move |_, _, _| {
            Err(format_err!("{message}"))
        })?;
    }
    Ok(())
}

/// Writes the guest's iovecs to the host's stdout or stderr; the only
/// descriptors there are.
fn fd_write<T>(
    mut caller: Caller<'_, T>,
    fd: u32,
    iovecs_ptr: u32,
    iovecs_len: u32,
    written_ptr: u32,
) -> wasmtime::Result<i32> {
    let memory = guest_memory(&mut caller)?;
    let Ok(iovecs) = iovecs_len
        .checked_mul(8)
        .ok_or_else(|| format_err!("too many iovecs"))
        .and_then(|len| read_guest(&caller, memory, iovecs_ptr, len))
    else {
        return Ok(errno::FAULT);
    };
    let mut bytes = Vec::new();
    for iovec in iovecs.chunks_exact(8) {
        let (ptr, len) = iovec.split_at(4);
        let (Ok(ptr), Ok(len)) = (<[u8; 4]>::try_from(ptr), <[u8; 4]>::try_from(len)) else {
            return Ok(errno::FAULT);
        };
        let (ptr, len) = (u32::from_le_bytes(ptr), u32::from_le_bytes(len));
        match read_guest(&caller, memory, ptr, len) {
            Ok(part) => bytes.extend_from_slice(&part),
            Err(_) => return Ok(errno::FAULT),
        }
    }
    let written = match fd {
        STDOUT => std::io::stdout().lock().write_all(&bytes),
        STDERR => std::io::stderr().lock().write_all(&bytes),
        _ => return Ok(errno::BADF),
    };
    if written.is_err() {
        return Ok(errno::IO);
    }
    let count = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    Ok(
        match write_guest(&mut caller, memory, written_ptr, &count.to_le_bytes()) {
            Ok(()) => errno::SUCCESS,
            Err(_) => errno::FAULT,
        },
    )
}

/// Fills `len` bytes at `buf` from the OS's randomness (std seeds its
/// `HashMap` hasher with it).
fn random_get<T>(mut caller: Caller<'_, T>, buf: u32, len: u32) -> wasmtime::Result<i32> {
    let memory = guest_memory(&mut caller)?;
    // Checked before allocating: `len` is the guest's to choose.
    let fits = u64::from(buf) + u64::from(len) <= u64::try_from(memory.data_size(&caller))?;
    if !fits {
        return Ok(errno::FAULT);
    }
    let mut random = vec![0; usize::try_from(len)?];
    if getrandom::fill(&mut random).is_err() {
        return Ok(errno::IO);
    }
    Ok(match write_guest(&mut caller, memory, buf, &random) {
        Ok(()) => errno::SUCCESS,
        Err(_) => errno::FAULT,
    })
}

#[cfg(test)]
mod tests {
    //! Hand-written waPC guests calling WASI, run by the waPC host.

    use std::sync::Arc;

    use wasmtime::{Engine, Module};

    use crate::wapc_host::{HostCallHandler, InstanceLimits, WapcError, WapcInstance, WapcModule};

    const LIMITS: InstanceLimits = InstanceLimits {
        deadline_ticks: 1,
        max_memory_bytes: None,
    };

    /// A guest importing `wasi` (WAT import lines), whose `wapc_init` runs
    /// `init` and whose `__guest_call` runs `body` and answers the 16 bytes
    /// at offset 1024.
    fn guest(wasi: &str, init: &str, body: &str) -> Result<WapcInstance, WapcError> {
        let text = format!(
            r#"(module
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  {wasi}
  (memory (export "memory") 1)
  (data (i32.const 2048) "hello")
  (func (export "wapc_init") {init})
  (func (export "__guest_call") (param i32 i32) (result i32)
    {body}
    (call $guest_response (i32.const 1024) (i32.const 16))
    (i32.const 1)))"#
        );
        let engine = Engine::default();
        let module =
            Module::new(&engine, wat::parse_str(text).expect("valid WAT")).expect("compiles");
        let no_host_calls: Arc<HostCallHandler> =
            Arc::new(|_: &str, _: &str, _: &str, _: &[u8]| Err("none".to_owned()));
        WapcModule::new(&engine, &module)?.instantiate(no_host_calls, LIMITS)
    }

    fn answer(wasi: &str, body: &str) -> Vec<u8> {
        guest(wasi, "", body)
            .expect("instantiates")
            .call("validate", b"")
            .expect("answers")
    }

    fn word(bytes: &[u8], index: usize) -> u32 {
        let start = index * 4;
        u32::from_le_bytes(bytes[start..start + 4].try_into().expect("4 bytes"))
    }

    const FD_WRITE: &str = r#"(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))"#;

    /// `fd_write(fd, one iovec of "hello")`; the errno lands at 1024 and the
    /// count written at 1028.
    fn write_hello(fd: u32) -> Vec<u8> {
        answer(
            FD_WRITE,
            &format!(
                "(i32.store (i32.const 512) (i32.const 2048))
                 (i32.store (i32.const 516) (i32.const 5))
                 (i32.store (i32.const 1024)
                   (call $fd_write (i32.const {fd}) (i32.const 512) (i32.const 1) (i32.const 1028)))"
            ),
        )
    }

    #[test]
    fn fd_write_reaches_stderr_only_through_stdio() {
        let to_stderr = write_hello(2);
        assert_eq!((word(&to_stderr, 0), word(&to_stderr, 1)), (0, 5));
        // No files: any other descriptor is EBADF, and nothing is written.
        let to_file = write_hello(3);
        assert_eq!((word(&to_file, 0), word(&to_file, 1)), (8, 0));
    }

    #[test]
    fn fd_write_outside_memory_is_efault() {
        let answer = answer(
            FD_WRITE,
            "(i32.store (i32.const 512) (i32.const 65530))
             (i32.store (i32.const 516) (i32.const 100))
             (i32.store (i32.const 1024)
               (call $fd_write (i32.const 2) (i32.const 512) (i32.const 1) (i32.const 1028)))",
        );
        assert_eq!(word(&answer, 0), 21);
    }

    #[test]
    fn random_get_fills_with_fresh_randomness() {
        let random = r#"(import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))"#;
        let body = "(i32.store (i32.const 512) (call $random_get (i32.const 1024) (i32.const 16)))
                    (if (i32.load (i32.const 512)) (then unreachable))";
        let (first, second) = (answer(random, body), answer(random, body));
        assert_ne!(first, vec![0; 16]);
        assert_ne!(first, second);
        // Beyond memory: EFAULT, not a host allocation of the asked size.
        let beyond =
            "(i32.store (i32.const 1024) (call $random_get (i32.const 1024) (i32.const -1)))";
        assert_eq!(word(&answer(random, beyond), 0), 21);
    }

    #[test]
    fn environment_and_arguments_are_empty() {
        let sizes = r#"(import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))"#;
        let answer = answer(
            sizes,
            "(i32.store (i32.const 1024) (i32.const -1))
             (i32.store (i32.const 1028) (i32.const -1))
             (i32.store (i32.const 1032) (i32.const -1))
             (i32.store (i32.const 1036) (i32.const -1))
             (drop (call $environ_sizes_get (i32.const 1024) (i32.const 1028)))
             (drop (call $args_sizes_get (i32.const 1032) (i32.const 1036)))",
        );
        assert_eq!(answer, vec![0; 16]);
    }

    #[test]
    fn other_wasi_functions_link_and_trap_naming_themselves() {
        let clock = r#"(import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))"#;
        // Linking succeeds: a module importing more WASI than it calls runs.
        assert_eq!(answer(clock, "").len(), 16);
        let error = guest(
            clock,
            "",
            "(drop (call $clock_time_get (i32.const 0) (i64.const 0) (i32.const 1024)))",
        )
        .expect("instantiates")
        .call("validate", b"")
        .expect_err("traps");
        match error {
            WapcError::CallTrapped(message) => {
                assert!(message.contains("clock_time_get"), "{message}")
            }
            other => panic!("expected a trap, got {other:?}"),
        }
    }

    #[test]
    fn proc_exit_zero_ends_initialisation_successfully() {
        let exit = r#"(import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))"#;
        assert!(guest(exit, "(call $proc_exit (i32.const 0))", "").is_ok());
        match guest(exit, "(call $proc_exit (i32.const 3))", "") {
            Err(WapcError::StartFailed { function, message }) => {
                assert_eq!(function, "wapc_init");
                assert!(message.contains("code 3"), "{message}");
            }
            other => panic!("expected a failed start, got {other:?}"),
        }
    }
}
