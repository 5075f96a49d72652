-- The merchant web console (issue 12): its users, their sessions, the failed sign-ins that
-- lock an account for a while, and the audit log of every change made through it.
-- Portable SQL (TEXT and BIGINT only), like every migration.

-- A console user. role: 'owner' (changes things), 'viewer' (sees everything, changes nothing),
-- 'operator' (every merchant; merchant_id is NULL). The password is an argon2id PHC string.
CREATE TABLE console_users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    merchant_id TEXT REFERENCES merchants(imp_code),
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Emails are compared lower-cased; the service stores them that way.
CREATE UNIQUE INDEX console_users_email ON console_users (email);

-- A signed-in browser. Only the SHA-256 of the cookie's token is stored, so a copy of the
-- table does not sign anyone in. csrf_token is echoed in every form of the session.
CREATE TABLE console_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES console_users(id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- One row per failed sign-in, by lower-cased email (whether or not such a user exists, so the
-- lockout does not tell which emails have accounts). Counted over a window; pruned as it goes.
CREATE TABLE console_login_failures (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    address TEXT,
    failed_at BIGINT NOT NULL
);
CREATE INDEX console_login_failures_email ON console_login_failures (email, failed_at);

-- Every change made through the console: who (user id and email at the time), when, what
-- (action), on which object (subject) and of which merchant, with a short detail text that
-- never holds a secret.
CREATE TABLE console_audit (
    id TEXT PRIMARY KEY,
    merchant_id TEXT,
    user_id TEXT NOT NULL,
    user_email TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX console_audit_merchant ON console_audit (merchant_id, at);
