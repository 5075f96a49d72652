//! idempotency: placeholder until written.
