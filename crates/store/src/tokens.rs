//! tokens: placeholder until written.
