-- keymint PostgreSQL schema, step 1 (initial). Apply the steps in order.
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
