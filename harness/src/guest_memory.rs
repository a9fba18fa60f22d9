//! Reading and writing the guest's memory: what the waPC host and the WASI
//! sandbox both need, below both of them.

use wasmtime::{format_err, Caller, Extern, Memory};

/// The guest's exported memory, which every waPC pointer points into.
pub(crate) fn guest_memory<T>(caller: &mut Caller<'_, T>) -> wasmtime::Result<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(format_err!("the guest exports no memory named `memory`")),
    }
}

/// `len` bytes of guest memory at `ptr`; a range outside memory traps.
pub(crate) fn read_guest<T>(
    caller: &Caller<'_, T>,
    memory: Memory,
    ptr: u32,
    len: u32,
) -> wasmtime::Result<Vec<u8>> {
    let start = usize::try_from(ptr)?;
    let end = start.checked_add(usize::try_from(len)?);
    end.and_then(|end| memory.data(caller).get(start..end))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| format_err!("the guest passed {len} bytes at {ptr}, outside its memory"))
}

pub(crate) fn write_guest<T>(
    caller: &mut Caller<'_, T>,
    memory: Memory,
    ptr: u32,
    bytes: &[u8],
) -> wasmtime::Result<()> {
    memory
        .write(caller, usize::try_from(ptr)?, bytes)
        .map_err(|_| {
            format_err!(
                "the guest asked for {} bytes at {ptr}, outside its memory",
                bytes.len()
            )
        })
}

pub(crate) fn read_guest_str<T>(
    caller: &Caller<'_, T>,
    memory: Memory,
    ptr: u32,
    len: u32,
    what: &str,
) -> wasmtime::Result<String> {
    String::from_utf8(read_guest(caller, memory, ptr, len)?)
        .map_err(|e| format_err!("the guest's {what} is not UTF-8: {e}"))
}
