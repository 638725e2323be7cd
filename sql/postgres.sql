-- keymint API keys for PostgreSQL, schema version 5, as postgresSchema() from
-- 'keymint/adapters/postgres' writes it (pass { table, schema } there for other names): every
-- step of sql/postgres/ in order, and the table that records them. Safe to run more than once.
-- COLLATE "C" keeps list() in code point order.
CREATE TABLE IF NOT EXISTS "keymint_api_keys" (
  id           text        COLLATE "C" NOT NULL,
  scope        text        COLLATE "C" NOT NULL,
  name         text        COLLATE "C" NOT NULL,
  role         text        NOT NULL,
  secret_hash  text        NOT NULL,
  created_at   timestamptz NOT NULL,
  expires_at   timestamptz,
  last_used_at timestamptz,
  revoked_at   timestamptz,
  metadata     jsonb,
  CONSTRAINT "keymint_api_keys_pkey" PRIMARY KEY (id),
  CONSTRAINT "keymint_api_keys_scope_name_key" UNIQUE (scope, name)
);

-- deleteExpired() purges through this index; keys that never expire are left out of it.
CREATE INDEX IF NOT EXISTS "keymint_api_keys_expires_at_idx"
  ON "keymint_api_keys" (expires_at) WHERE expires_at IS NOT NULL;
-- A key's own time to live, and the previous secret of a rotated key with the end of its grace
-- period. Rows of 0.1.0 keep NULL in each, which keymint reads as "never rotated" and as a time
-- to live of expiry minus creation.
ALTER TABLE "keymint_api_keys"
  ADD COLUMN IF NOT EXISTS ttl_seconds                int8,
  ADD COLUMN IF NOT EXISTS previous_secret_hash       text,
  ADD COLUMN IF NOT EXISTS previous_secret_expires_at timestamptz,
  ADD COLUMN IF NOT EXISTS rotated_at                 timestamptz;
-- The key's owner (an opaque user or service-account id) and its narrowed permissions (a JSON
-- array; NULL is everything the role grants). Rows written before keep NULL in both.
ALTER TABLE "keymint_api_keys"
  ADD COLUMN IF NOT EXISTS owner       text COLLATE "C",
  ADD COLUMN IF NOT EXISTS permissions jsonb;
CREATE INDEX IF NOT EXISTS "keymint_api_keys_scope_owner_name_idx"
  ON "keymint_api_keys" (scope, owner, name);
-- A key's own rate limit and credits (JSON); NULL for none.
ALTER TABLE "keymint_api_keys" ADD COLUMN IF NOT EXISTS limits jsonb;

-- Usage counters: the rate-limit window and its count, the credit balance and its refill period.
CREATE TABLE IF NOT EXISTS "keymint_api_keys_usage" (
  id             text COLLATE "C" NOT NULL PRIMARY KEY,
  window_start   int8,
  count          int8 NOT NULL,
  credits_set    int8,
  credits_period int8,
  remaining      int8,
  ok             int2 NOT NULL
);
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
CREATE TABLE IF NOT EXISTS "keymint_api_keys_migrations" (
  version    integer     NOT NULL PRIMARY KEY,
  name       text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO "keymint_api_keys_migrations" (version, name) VALUES (1, 'initial') ON CONFLICT (version) DO NOTHING;
INSERT INTO "keymint_api_keys_migrations" (version, name) VALUES (2, 'rotation') ON CONFLICT (version) DO NOTHING;
INSERT INTO "keymint_api_keys_migrations" (version, name) VALUES (3, 'owners') ON CONFLICT (version) DO NOTHING;
INSERT INTO "keymint_api_keys_migrations" (version, name) VALUES (4, 'usage') ON CONFLICT (version) DO NOTHING;
INSERT INTO "keymint_api_keys_migrations" (version, name) VALUES (5, 'failures') ON CONFLICT (version) DO NOTHING;
