//! TODO(protocol helper): decode, dispatch, encode.
