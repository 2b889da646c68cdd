//! TODO(log helper): segment.
