//! Structure-aware: AdmissionReview payloads built from an `Arbitrary`
//! model of a request, so that the fuzzer spends its time in the rules
//! rather than in the JSON parser. Beyond "a well-formed answer", a
//! mutation must be idempotent and keep an explicit safe-to-evict "false".
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy_fuzz::check_review;
use policy_fuzz::model::Review;

fuzz_target!(|review: Review| {
    check_review(&review);
});
