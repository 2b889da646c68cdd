//! TODO(log helper): index.
