-- keymint PostgreSQL schema, step 2 (rotation). Apply the steps in order.
-- A key's own time to live, and the previous secret of a rotated key with the end of its grace
-- period. Rows of 0.1.0 keep NULL in each, which keymint reads as "never rotated" and as a time
-- to live of expiry minus creation.
ALTER TABLE "keymint_api_keys"
  ADD COLUMN IF NOT EXISTS ttl_seconds                int8,
  ADD COLUMN IF NOT EXISTS previous_secret_hash       text,
  ADD COLUMN IF NOT EXISTS previous_secret_expires_at timestamptz,
  ADD COLUMN IF NOT EXISTS rotated_at                 timestamptz;
