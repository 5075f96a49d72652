-- An in-progress Idempotency-Key claim holds a lease that its server renews while the request
-- runs. A claim whose lease ran out belongs to a request that died (server killed, task lost):
-- a retry with the same request takes it over instead of getting 409 for 24 hours.
-- Rows from before this migration have no lease and count as expired.
ALTER TABLE idempotency_keys ADD COLUMN lease_until BIGINT;
