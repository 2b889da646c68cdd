//! Fuzz target: a produced record batch (flags byte, then the batches) through produce-side validation
//! (`minikafka_broker::fuzzing::record_batch`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| minikafka_broker::fuzzing::record_batch(data));
