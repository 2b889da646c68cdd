//! Criterion benches of the storage engine.
fn main() {}
