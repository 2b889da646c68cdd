//! minikafka-client: one Producer / Consumer / admin API, two backends.
//!
//! TODO(client helper): reading order.
