//! payments: placeholder until written.
