//! customers: placeholder until written.
