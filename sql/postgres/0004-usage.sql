-- keymint PostgreSQL schema, step 4 (usage). Apply the steps in order.
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
