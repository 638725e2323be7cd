-- keymint SQLite schema, step 1 (initial). Apply the steps in order.
CREATE TABLE IF NOT EXISTS "keymint_api_keys" (
  "id" TEXT NOT NULL PRIMARY KEY,
  "scope" TEXT NOT NULL,
  "name" TEXT NOT NULL,
  "role" TEXT NOT NULL,
  "secret_hash" TEXT NOT NULL,
  "created_at" INTEGER NOT NULL,
  "expires_at" INTEGER,
  "last_used_at" INTEGER,
  "revoked_at" INTEGER,
  "metadata" TEXT
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS "keymint_api_keys_scope_name" ON "keymint_api_keys" ("scope", "name");
CREATE INDEX IF NOT EXISTS "keymint_api_keys_expires_at" ON "keymint_api_keys" ("expires_at")
  WHERE "expires_at" IS NOT NULL;
