// The `verify` command: checks a key against the store and says why it is not valid.
import type { VerifyFailureReason } from '../core/types.js';
import { permissionsOf, text, type CommandContext } from './context.js';
import { EXIT } from './failures.js';
import { printJson, printOut, readableExpiry, recordJson } from './output.js';

const REASONS: Record<VerifyFailureReason, string> = {
  malformed: 'not a keymint key of this format, or mistyped (the checksum fails)',
  not_found: 'no such key in this store and scope, or the secret is wrong',
  expired: 'the time to live has run out',
  revoked: 'the key was revoked',
  rotated: 'the key was rotated and its grace period is over: use the new key',
  insufficient_role: 'the key is valid but its role is below --role',
  insufficient_permission: 'the key is valid but lacks one of the --permission given',
  rate_limited:
    "the key's rate limit is used up, or too many wrong secrets for this key id lately; try again later",
  usage_exceeded: "the key's credits are spent",
  busy: 'too many keys being checked at once; nothing was decided, try again',
};

export async function verify({ keymint, invocation, io, key }: CommandContext): Promise<number> {
  const permissions = permissionsOf(invocation);
  const result = await keymint.verifyKey(key, {
    role: text(invocation, 'role'),
    scope: text(invocation, 'scope'),
    ...(permissions && { permissions }),
  });
  if (invocation.values.json) {
    await printJson(
      io.stdout,
      result.valid ? { valid: true, apiKey: recordJson(result.apiKey) } : result,
    );
  } else if (result.valid) {
    const { id, name, role, scope, expiresAt } = result.apiKey;
    await printOut(
      io.stdout,
      `valid: key ${id} "${name}", role ${role}, scope ${scope}, expires ${readableExpiry(expiresAt, new Date())}\n`,
    );
  } else {
    await printOut(io.stdout, `invalid: ${result.reason} (${REASONS[result.reason]})\n`);
  }
  return result.valid ? EXIT.OK : EXIT.INVALID_KEY;
}
