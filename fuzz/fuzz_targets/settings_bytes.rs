//! Arbitrary bytes as settings: what `validate_settings` reads, and the
//! `settings` of a `validate` payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linkerd_ha_policy::settings::Settings;
use policy_fuzz::{assert_well_formed, FakeCluster};
use serde_json::value::RawValue;

fuzz_target!(|data: &[u8]| {
    // validate_settings: decode, then judge the values; either step may
    // refuse, and a refusal names the field.
    match Settings::from_json(data) {
        Ok(settings) => {
            if let Err(message) = settings.check() {
                assert!(message.starts_with("settings"), "{message}");
            }
        }
        Err(error) => assert!(error.to_string().starts_with("settings"), "{error}"),
    }
    // The same document as the settings of a request, when it is JSON.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if serde_json::from_str::<&RawValue>(text).is_err() {
        return;
    }
    let payload = format!(
        r#"{{"request": {{"uid": "1", "kind": {{"group": "", "version": "v1", "kind": "Pod"}}, "operation": "CREATE", "namespace": "shop",
            "object": {{"metadata": {{"name": "web", "namespace": "shop", "annotations": {{"linkerd.io/inject": "enabled"}}}},
                        "spec": {{"containers": [{{"name": "web"}}]}}}}}}, "settings": {text}}}"#
    );
    assert_well_formed(&linkerd_ha_policy::admission::validate(
        payload.as_bytes(),
        &FakeCluster::default(),
    ));
});
