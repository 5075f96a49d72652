-- Cancels whose PG answer was lost (a PG timeout, a crash between the reservation and the
-- record) are settled by the reconciler, which asks the PG by the cancel's own id.

-- When the reconciler last asked about a pending cancel: the pass takes the least recently
-- asked first, so cancels it cannot settle (a removed channel) never starve the others.
ALTER TABLE payment_cancels ADD COLUMN checked_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX payment_cancels_pending ON payment_cancels (checked_at, requested_at)
    WHERE state = 'pending';

-- The sandbox PG records the id each cancel was requested with (openimp's cancellation_id, as
-- KICC's shopTransactionId or an idempotency key), answers a cancel inquiry by it, and never
-- records one request twice.
ALTER TABLE sandbox_ledger ADD COLUMN request_id TEXT;
CREATE UNIQUE INDEX sandbox_ledger_cancel_request ON sandbox_ledger (mid, request_id)
    WHERE request_id IS NOT NULL;
-- For an approval, what its test card decided (the vocabulary of sandbox_billing_keys.behavior):
-- card ending 0019 is approved normally, and its cancels are recorded but their answer is lost.
ALTER TABLE sandbox_ledger ADD COLUMN behavior TEXT;

-- /readyz probes a write here (insert and delete, committed) while writes have been failing
-- (disk full, read-only data directory), so that it reports ready again only once they succeed.
CREATE TABLE write_probe (
    id BIGINT PRIMARY KEY,
    filler TEXT NOT NULL
);
