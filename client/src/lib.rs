//! minikafka-client: one Producer / Consumer / admin API, two backends.

pub mod assignor;
