-- The sandbox PG's own tables. The sandbox simulates a PG's own database: these rows are what
-- "the PG" knows, kept apart from openimp's payments so tests can use the ledger as the oracle
-- for what was really charged. Portable SQL (SQLite and PostgreSQL); times are UNIX seconds.

CREATE TABLE sandbox_billing_keys (
    billing_key TEXT PRIMARY KEY,
    mid TEXT NOT NULL,                      -- the PG merchant id the key was issued to
    -- What the test card decides for every charge on this key: 'approve', 'decline_all'
    -- (card ending 0341), 'decline_insufficient_balance' (0002), 'decline_over_limit' (0003),
    -- 'decline_lost_card' (0004), 'timeout' (0009: approved, but the answer never arrives).
    behavior TEXT NOT NULL,
    card_code TEXT NOT NULL,                -- KFTC card company code
    card_name TEXT NOT NULL,
    card_number TEXT NOT NULL,              -- masked; the full number, birth and password are never stored
    card_type BIGINT NOT NULL,              -- 0 credit, 1 check
    created_at BIGINT NOT NULL,
    deleted_at BIGINT NOT NULL DEFAULT 0    -- 0: live; charges on a deleted key decline
);

CREATE TABLE sandbox_ledger (
    tid TEXT PRIMARY KEY,                   -- the PG transaction id (pg_tid)
    kind TEXT NOT NULL,                     -- 'approval' or 'cancel'
    mid TEXT NOT NULL,
    order_id TEXT NOT NULL,                 -- openimp's imp_uid; a cancel repeats its approval's
    amount BIGINT NOT NULL,                 -- approved amount, or the amount this cancel gave back
    ref_tid TEXT,                           -- for a cancel, the approval it refers to; NULL for an approval
    card_code TEXT NOT NULL,
    card_name TEXT NOT NULL,
    card_number TEXT NOT NULL,              -- masked
    card_type BIGINT NOT NULL,              -- 0 credit, 1 check
    apply_num TEXT NOT NULL,                -- 8-digit approval number; a cancel repeats its approval's
    created_at BIGINT NOT NULL,
    created_at_us BIGINT NOT NULL           -- microseconds: orders entries written in the same second
);
CREATE INDEX sandbox_ledger_order ON sandbox_ledger (mid, order_id);
CREATE INDEX sandbox_ledger_ref ON sandbox_ledger (ref_tid);
-- A PG approves an order id at most once per MID: a second charge with the same order id is
-- refused, and two racing charges get exactly one approval.
CREATE UNIQUE INDEX sandbox_ledger_one_approval ON sandbox_ledger (mid, order_id)
    WHERE kind = 'approval';
