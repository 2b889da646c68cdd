//! TODO(log helper): recovery.
