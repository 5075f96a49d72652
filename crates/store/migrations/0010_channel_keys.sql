-- Channel keys (PortOne's `channelKey`): each channel gets a key a request can name to pick it.
-- Portable SQL, like every migration. New channels get `channel-key-<uuid v4>` from the
-- service; existing ones are backfilled from their random id, which is unique already.

ALTER TABLE channels ADD COLUMN channel_key TEXT;
UPDATE channels SET channel_key = 'channel-key-' || id WHERE channel_key IS NULL;
CREATE UNIQUE INDEX channels_channel_key ON channels (channel_key);
