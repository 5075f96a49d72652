-- Pay methods beyond card (the hosted window's trans, vbank, phone and easy-pay brands).
-- Portable SQL, like every migration: only TEXT and BIGINT columns.

ALTER TABLE payments ADD COLUMN emb_pg_provider TEXT;     -- easy-pay brand inside a hub PG
ALTER TABLE payments ADD COLUMN bank_code TEXT;           -- trans: the bank paid from
ALTER TABLE payments ADD COLUMN bank_name TEXT;
ALTER TABLE payments ADD COLUMN vbank_code TEXT;          -- vbank: the virtual account
ALTER TABLE payments ADD COLUMN vbank_name TEXT;
ALTER TABLE payments ADD COLUMN vbank_num TEXT;
ALTER TABLE payments ADD COLUMN vbank_holder TEXT;
ALTER TABLE payments ADD COLUMN vbank_date BIGINT NOT NULL DEFAULT 0;       -- deposit deadline
ALTER TABLE payments ADD COLUMN vbank_issued_at BIGINT NOT NULL DEFAULT 0;

-- An issued virtual account ('ready', waiting for the deposit) is a live attempt too: its
-- merchant_uid cannot be paid a second time while the account is open.
DROP INDEX payments_live_merchant_uid;
CREATE UNIQUE INDEX payments_live_merchant_uid ON payments (merchant_id, merchant_uid)
    WHERE status IN ('pending', 'ready', 'paid', 'cancelled');
