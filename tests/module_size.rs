//! The module that ships stays within its size budget: 300 KB (300,000
//! bytes) after `make build`'s optimiser, the module every other test runs.
//! Size is a property of the artifact, not a timing, so it is a test; the
//! breakdown (what the bytes are) is `make bench`'s.

mod common;

use common::wasm_path;

const BUDGET: u64 = 300_000;

#[test]
fn the_module_is_under_300_kb() {
    let path = wasm_path();
    let size = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (build it with `make build`)", path.display()))
        .len();
    assert!(
        size < BUDGET,
        "{} is {size} bytes, over the {BUDGET}-byte budget by {} (is it `make build`'s optimised module? `make bench` shows both sizes)",
        path.display(),
        size - BUDGET
    );
}
