//! TODO(protocol helper): length-prefixed frames.
