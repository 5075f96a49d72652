-- Scheduled payments (예약결제) and the webhook outbox. Portable SQL (SQLite and PostgreSQL).

CREATE TABLE schedules (
    id TEXT PRIMARY KEY,                    -- internal id ('sch_' + hex), the claim key
    merchant_id TEXT NOT NULL,
    merchant_uid TEXT NOT NULL,
    customer_uid TEXT NOT NULL,
    customer_id TEXT,
    schedule_at BIGINT NOT NULL,            -- unix seconds
    amount BIGINT NOT NULL,
    tax_free BIGINT NOT NULL DEFAULT 0,
    vat_amount BIGINT,
    card_quota BIGINT NOT NULL DEFAULT 0,
    currency TEXT NOT NULL,
    name TEXT,
    buyer_name TEXT,
    buyer_email TEXT,
    buyer_tel TEXT,
    buyer_addr TEXT,
    buyer_postcode TEXT,
    custom_data TEXT,
    notice_url TEXT,
    pg_provider TEXT,
    pg_id TEXT,
    schedule_status TEXT NOT NULL,          -- 'scheduled', 'executed', 'revoked'
    -- Start of the current 'scheduled' period (creation, reschedule, retry): payments of this
    -- merchant_uid started before it belong to an earlier run.
    scheduled_since BIGINT NOT NULL,
    lease_owner TEXT,                       -- the worker charging it now
    lease_until BIGINT NOT NULL DEFAULT 0,  -- unix milliseconds; 0: not leased
    claims BIGINT NOT NULL DEFAULT 0,       -- how many times a worker claimed it
    imp_uid TEXT,
    payment_status TEXT,                    -- 'paid' / 'failed' once executed (cancels read from payments)
    fail_reason TEXT,
    executed_at BIGINT NOT NULL DEFAULT 0,
    late_secs BIGINT NOT NULL DEFAULT 0,    -- how long after schedule_at the charge started
    revoked_at BIGINT NOT NULL DEFAULT 0,
    revoke_reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (merchant_id, merchant_uid)
);
CREATE INDEX schedules_due ON schedules (schedule_status, schedule_at);
CREATE INDEX schedules_merchant_at ON schedules (merchant_id, schedule_at);
CREATE INDEX schedules_customer ON schedules (merchant_id, customer_uid, schedule_at);

-- One row per notification to send. Written in the transaction of the state change it reports.
CREATE TABLE webhook_outbox (
    id TEXT PRIMARY KEY,                    -- 'msg_' + hex: the Standard Webhooks webhook-id
    merchant_id TEXT NOT NULL,
    imp_uid TEXT NOT NULL,
    merchant_uid TEXT NOT NULL,
    status TEXT NOT NULL,                   -- the payment status the event reports
    cancellation_id TEXT,
    url TEXT NOT NULL,
    format TEXT NOT NULL,                   -- 'json' or 'form'
    state TEXT NOT NULL,                    -- 'pending', 'delivered', 'failed' (gave up)
    attempts BIGINT NOT NULL DEFAULT 0,     -- attempts ever made (numbers the attempt log)
    round_attempts BIGINT NOT NULL DEFAULT 0, -- attempts since created or last resent
    next_attempt_at BIGINT NOT NULL,        -- unix milliseconds
    lease_until BIGINT NOT NULL DEFAULT 0,  -- unix milliseconds
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,             -- unix seconds
    delivered_at BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (state, next_attempt_at);
CREATE INDEX webhook_outbox_merchant ON webhook_outbox (merchant_id, created_at);
CREATE INDEX webhook_outbox_payment ON webhook_outbox (merchant_id, imp_uid);

CREATE TABLE webhook_attempts (
    webhook_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    attempted_at BIGINT NOT NULL,           -- unix milliseconds
    http_status BIGINT,                     -- NULL: no HTTP answer (network error, timeout, refused)
    latency_ms BIGINT NOT NULL,
    error TEXT,
    response_snippet TEXT,
    PRIMARY KEY (webhook_id, attempt)
);
