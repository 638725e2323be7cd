-- keymint MySQL / MariaDB schema, step 2 (owners). Apply the steps in order.
ALTER TABLE `keymint_api_keys`
  ADD COLUMN owner       VARBINARY(760) NULL,
  ADD COLUMN permissions LONGTEXT       CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  ADD KEY `keymint_api_keys_scope_owner_name` (scope, owner, name);
