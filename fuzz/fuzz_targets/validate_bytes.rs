//! Arbitrary bytes as the `validate` payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy_fuzz::{assert_well_formed, FakeCluster};

fuzz_target!(|data: &[u8]| {
    let response = linkerd_ha_policy::admission::validate(data, &FakeCluster::default());
    assert_well_formed(&response);
});
