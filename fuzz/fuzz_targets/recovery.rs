//! Fuzz target: the files of one partition directory, opened as at broker start-up
//! (`minikafka_broker::fuzzing::recovery`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| minikafka_broker::fuzzing::recovery(data));
