-- Hosted payment window sessions (IMP.request_pay). Portable SQL, like every migration.
-- A session is created by the SDK on the merchant page, bound to one merchant and one request,
-- and lives until it is used or expires (15 minutes). Card data never lands here.

CREATE TABLE window_sessions (
    id TEXT PRIMARY KEY,                    -- random, unguessable: the window's URL
    merchant_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    csrf_token TEXT NOT NULL,               -- echoed by the window's forms
    origin TEXT NOT NULL,                   -- the merchant page's origin: the only postMessage target
    mode TEXT NOT NULL,                     -- 'overlay' (callback) or 'redirect' (m_redirect_url)
    device TEXT NOT NULL,                   -- 'pc' or 'mobile': the Payment's channel
    request_json TEXT NOT NULL,             -- the checked request (merchant_uid, amount, buyer, ...)
    user_agent TEXT,
    state TEXT NOT NULL,                    -- 'open', 'processing' (a submit claimed it), 'done'
    imp_uid TEXT,
    result_json TEXT,                       -- the callback's rsp object, once done
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX window_sessions_merchant ON window_sessions (merchant_id, created_at);
