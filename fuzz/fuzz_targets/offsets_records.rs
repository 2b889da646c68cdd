//! Fuzz target: stored `__consumer_offsets` batches through the coordinator's replay and decoders
//! (`minikafka_broker::fuzzing::offsets_records`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| minikafka_broker::fuzzing::offsets_records(data));
