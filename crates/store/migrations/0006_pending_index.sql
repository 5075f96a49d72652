-- The reconciler looks only for pending payments (status = 'pending', oldest first). A partial
-- index holds just those, so a payment's move to paid or failed, which every charge makes,
-- adds no entry to it (one index write less per charge).
DROP INDEX payments_pending;
CREATE INDEX payments_pending ON payments (updated_at) WHERE status = 'pending';
