-- keymint PostgreSQL schema, step 5 (failures). Apply the steps in order.
-- The wrong-secret limit (rateLimit) counted for every process: one window per key id.
-- Times are epoch milliseconds on the database's clock.
CREATE UNLOGGED TABLE IF NOT EXISTS "keymint_api_keys_failures" (
  id           text COLLATE "C" NOT NULL PRIMARY KEY,
  window_start int8 NOT NULL,
  reset_at     int8 NOT NULL,
  failures     int4 NOT NULL
);
CREATE INDEX IF NOT EXISTS "keymint_api_keys_failures_reset_at_idx"
  ON "keymint_api_keys_failures" (reset_at);
