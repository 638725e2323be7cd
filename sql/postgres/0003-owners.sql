-- keymint PostgreSQL schema, step 3 (owners). Apply the steps in order.
-- The key's owner (an opaque user or service-account id) and its narrowed permissions (a JSON
-- array; NULL is everything the role grants). Rows written before keep NULL in both.
ALTER TABLE "keymint_api_keys"
  ADD COLUMN IF NOT EXISTS owner       text COLLATE "C",
  ADD COLUMN IF NOT EXISTS permissions jsonb;
CREATE INDEX IF NOT EXISTS "keymint_api_keys_scope_owner_name_idx"
  ON "keymint_api_keys" (scope, owner, name);
