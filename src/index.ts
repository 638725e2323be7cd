/**
 * keymint: Grafana-style API keys for any Node.js backend. Create a key with a unique name, a
 * role and a time to live; show it once; store only its hash; verify it on every request.
 *
 * ```sh
 * npm install keymint
 * ```
 *
 * @example
 * ```ts
 * import { createKeymint } from 'keymint';
 * import { memoryAdapter } from 'keymint/adapters/memory';
 *
 * const keymint = createKeymint({ adapter: memoryAdapter() });
 * const { key } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '12h' });
 * const result = await keymint.verifyKey(key); // { valid: true, apiKey: { name: 'ci', ... } }
 * ```
 *
 * @module
 */
export { createKeymint } from './core/keymint.js';
export { parseTtl, DEFAULT_MAX_TTL_SECONDS } from './core/ttl.js';
export type { ParseTtlOptions, TtlInput, TtlUnit } from './core/ttl.js';
export { keyPattern, MAX_KEY_LENGTH } from './core/key-format.js';
export { scannerRules, SCANNER_MIN_ENTROPY } from './core/scanner-rules.js';
export type { ScannerRulesOptions } from './core/scanner-rules.js';
export {
  ARGON2ID_KEY_PARAMETERS,
  ARGON2ID_OWASP_PARAMETERS,
  argon2idHasher,
  hmacSha256Hasher,
} from './core/hasher.js';
export type { Argon2idOptions, Hasher } from './core/hasher.js';
export { DEFAULT_ROLES } from './core/roles.js';
export type { PermissionsInfo } from './core/permissions.js';
export type { KeyEventBase, KeymintEvent, KeymintEventType } from './core/events.js';
export { KeymintError, isKeymintError, KEYMINT_ERROR_CODES } from './errors.js';
export type { KeymintErrorCode } from './errors.js';
export type {
  FailureReservation,
  InsertResult,
  InvalidationListener,
  KeyAdapter,
  KeyChanges,
  KeyPatch,
  LastUsedEntry,
  ListQuery,
  ModifyCondition,
  ModifyResult,
  StoredApiKey,
  StoredLimits,
  SubscribeOptions,
  UsageOutcome,
  UsageRequest,
  Subscription,
} from './adapter.js';
export type {
  ApiKey,
  ApiKeyAction,
  AuthorizeRequest,
  CallContext,
  CreateApiKeyInput,
  CreatedApiKey,
  CreditsInput,
  Keymint,
  KeymintOptions,
  LeakedKeyResult,
  LeakReport,
  ListApiKeysInput,
  PurgeExpiredInput,
  RevokeApiKeysInput,
  RateLimitInput,
  RotateApiKeyOptions,
  RotatedApiKey,
  UpdateApiKeyInput,
  UsageLimits,
  VerifyFailureReason,
  VerifyOptions,
  VerifyResult,
} from './core/types.js';
