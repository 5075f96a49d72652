//! prepares: placeholder until written.
