//! TODO(groups): the consumer-group coordinator.
