-- The core schema. Portable SQL: it runs unchanged on SQLite and PostgreSQL.
-- Times are UNIX seconds (BIGINT); money is whole won (BIGINT); sealed values are base64 TEXT
-- produced by the vault (a per-record data key wrapped by the master key).

CREATE TABLE merchants (
    imp_code TEXT PRIMARY KEY,              -- 'imp' + 8 digits, used by IMP.init
    name TEXT NOT NULL,
    imp_key TEXT NOT NULL UNIQUE,           -- REST API key (public half)
    secret_salt TEXT NOT NULL,
    secret_hash TEXT NOT NULL,              -- sha256(salt || imp_secret), hex; the secret itself is never stored
    webhook_url TEXT,                       -- used when a request gives no notice_url
    webhook_format TEXT NOT NULL DEFAULT 'json',  -- 'json' or 'form'
    webhook_secret_sealed TEXT,             -- whsec_ signing secret, sealed
    created_at BIGINT NOT NULL
);

CREATE TABLE channels (
    id TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants(imp_code),
    pg_provider TEXT NOT NULL,              -- html5_inicis, kicc, ...
    mid TEXT NOT NULL,                      -- PG merchant id (상점아이디)
    test_mode BIGINT NOT NULL,              -- 1: the sandbox PG answers for this channel
    is_default BIGINT NOT NULL,
    keyed_billing BIGINT NOT NULL,          -- 1: REST billing-key issue and keyed charges allowed
    secrets_sealed TEXT,                    -- JSON map of PG secrets, sealed
    created_at BIGINT NOT NULL,
    UNIQUE (merchant_id, pg_provider, mid)
);

CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,            -- sha256(token), hex: the lookup key of every request
    merchant_id TEXT NOT NULL,
    token_sealed TEXT NOT NULL,             -- the token itself, sealed, so getToken can hand it out again
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX access_tokens_merchant ON access_tokens (merchant_id, expires_at);

CREATE TABLE customers (
    merchant_id TEXT NOT NULL,
    customer_uid TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    pg_provider TEXT NOT NULL,
    pg_id TEXT NOT NULL,
    billing_key_sealed TEXT NOT NULL,       -- the PG's billing key, sealed (AAD: merchant + customer_uid)
    card_code TEXT,
    card_name TEXT,
    card_number TEXT,                       -- masked
    card_type BIGINT,                       -- 0 credit, 1 check, NULL unknown
    customer_id TEXT,
    customer_name TEXT,
    customer_tel TEXT,
    customer_email TEXT,
    customer_addr TEXT,
    customer_postcode TEXT,
    inserted BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    deleted_at BIGINT NOT NULL DEFAULT 0,   -- 0: live; a deleted key answers 404
    PRIMARY KEY (merchant_id, customer_uid)
);

CREATE TABLE payments (
    imp_uid TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    merchant_uid TEXT NOT NULL,
    -- 'pending' (PG called or about to be, outcome not recorded; shown as 'ready'), 'ready',
    -- 'paid', 'failed', 'cancelled'.
    status TEXT NOT NULL,
    amount BIGINT NOT NULL,
    cancel_amount BIGINT NOT NULL DEFAULT 0,
    -- Cancelled plus cancels in flight: reserved before a cancel calls the PG, so two partial
    -- cancels can never together exceed the amount.
    cancel_reserved BIGINT NOT NULL DEFAULT 0,
    tax_free BIGINT NOT NULL DEFAULT 0,
    vat_amount BIGINT,
    currency TEXT NOT NULL,
    pay_method TEXT,
    channel TEXT,                           -- 'api', 'pc', 'mobile'
    channel_id TEXT,
    pg_provider TEXT,
    pg_id TEXT,
    pg_tid TEXT,
    apply_num TEXT,
    card_code TEXT,
    card_name TEXT,
    card_number TEXT,                       -- masked
    card_type BIGINT,
    card_quota BIGINT NOT NULL DEFAULT 0,
    name TEXT,
    buyer_name TEXT,
    buyer_email TEXT,
    buyer_tel TEXT,
    buyer_addr TEXT,
    buyer_postcode TEXT,
    custom_data TEXT,
    user_agent TEXT,
    notice_url TEXT,
    customer_uid TEXT,
    customer_uid_usage TEXT,
    started_at BIGINT NOT NULL,
    paid_at BIGINT NOT NULL DEFAULT 0,
    failed_at BIGINT NOT NULL DEFAULT 0,
    cancelled_at BIGINT NOT NULL DEFAULT 0,
    fail_reason TEXT,
    cancel_reason TEXT,
    receipt_url TEXT,
    updated_at BIGINT NOT NULL
);
-- A merchant_uid has at most one live attempt: pending, paid or cancelled. Failed attempts may
-- repeat (findAll lists them). Two racing requests: one inserts, the other hits this index.
CREATE UNIQUE INDEX payments_live_merchant_uid ON payments (merchant_id, merchant_uid)
    WHERE status IN ('pending', 'paid', 'cancelled');
CREATE INDEX payments_merchant_uid ON payments (merchant_id, merchant_uid, started_at);
CREATE INDEX payments_status_started ON payments (merchant_id, status, started_at);
CREATE INDEX payments_customer ON payments (merchant_id, customer_uid, started_at);
CREATE INDEX payments_pending ON payments (status, updated_at);

CREATE TABLE payment_cancels (
    cancellation_id TEXT PRIMARY KEY,
    imp_uid TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    state TEXT NOT NULL,                    -- 'pending' (PG called), 'done', 'failed'
    pg_tid TEXT,
    amount BIGINT NOT NULL,
    tax_free BIGINT NOT NULL DEFAULT 0,
    vat_amount BIGINT,
    reason TEXT NOT NULL,
    receipt_url TEXT,
    requested_at BIGINT NOT NULL,
    cancelled_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX payment_cancels_payment ON payment_cancels (imp_uid, requested_at);

CREATE TABLE prepares (
    merchant_id TEXT NOT NULL,
    merchant_uid TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT,                          -- NULL: currency not checked
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, merchant_uid)
);

CREATE TABLE idempotency_keys (
    merchant_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,             -- sha256 of method, path and body
    state TEXT NOT NULL,                    -- 'in_progress' or 'done'
    response_status BIGINT,
    response_body TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, idem_key)
);
