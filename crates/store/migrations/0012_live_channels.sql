-- Channels that can go live (issue 10). Portable SQL, like every migration.

-- `--endpoint`: one base URL replacing every host of the channel's PG (its staging hosts, a
-- local fake); NULL: the PG's production hosts.
ALTER TABLE channels ADD COLUMN endpoint TEXT;
-- A removed channel keeps its row (its payments still need its PG context to be looked up,
-- cancelled and reconciled); it is only left out of picking and listing. 0: not removed.
ALTER TABLE channels ADD COLUMN removed_at BIGINT NOT NULL DEFAULT 0;

-- The mode ('sandbox' or 'live') and the connector (canonical provider) that issued a billing
-- key: a key is only ever charged through the same, whatever its channel became since. Keys
-- stored before this migration were all issued by the sandbox PG.
ALTER TABLE customers ADD COLUMN issued_mode TEXT NOT NULL DEFAULT 'sandbox';
ALTER TABLE customers ADD COLUMN issued_connector TEXT;

-- The connector's opaque window state (`WindowStart.state`), kept with the window's session.
ALTER TABLE window_sessions ADD COLUMN pg_state TEXT;

-- The mode a payment was sent in: its cancels and inquiries go to the PG that charged it,
-- whatever its channel's mode is now. Every payment before this migration was the sandbox's.
ALTER TABLE payments ADD COLUMN pg_mode TEXT DEFAULT 'sandbox';
