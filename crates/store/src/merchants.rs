//! merchants: placeholder until written.
