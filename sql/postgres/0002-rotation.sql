-- keymint schema step 2 (rotation, 0.2.0) for PostgreSQL: a key's own time to live, and the
-- previous secret of a rotated key with the end of its grace period. Rows of 0.1.0 keep NULL in
-- every new column, which keymint reads as "never rotated" and "time to live = expiry - creation".
ALTER TABLE "keymint_api_keys"
  ADD COLUMN IF NOT EXISTS ttl_seconds                int8,
  ADD COLUMN IF NOT EXISTS previous_secret_hash       text,
  ADD COLUMN IF NOT EXISTS previous_secret_expires_at timestamptz,
  ADD COLUMN IF NOT EXISTS rotated_at                 timestamptz;
