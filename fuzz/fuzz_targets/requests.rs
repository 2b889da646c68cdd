//! Fuzz target: request frames, one connection's bytes, through the broker's request
//! handler on a fresh broker context (`minikafka_broker::fuzzing::requests`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The clock is paused: long polls and rebalance waits end in virtual time, at once.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("tokio runtime");
    runtime.block_on(minikafka_broker::fuzzing::requests(data));
});
