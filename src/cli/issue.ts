// The commands that hand out a key, shown once: `create` and `rotate`.
import type { ApiKey, Keymint } from '../core/types.js';
import {
  messageOf,
  permissionsOf,
  text,
  type CommandContext,
  type RunInvocation,
} from './context.js';
import { EXIT, OutputError, UsageError } from './failures.js';
import { deliver, readableDate, readableExpiry, recordJson } from './output.js';

/** `--rate-limit 100/1m` and `--credits 1000`, as createApiKey input (which checks them). */
function limitsOf(invocation: RunInvocation) {
  const rate = text(invocation, 'rate-limit');
  const credits = text(invocation, 'credits');
  const limits: { rateLimit?: { limit: number; window: string }; credits?: { remaining: number } } =
    {};
  if (rate !== undefined) {
    const match = /^(\d+)\/(\S+)$/.exec(rate.trim());
    if (!match) {
      throw new UsageError(`--rate-limit takes <limit>/<window>, for example 100/1m.`, 'create');
    }
    limits.rateLimit = { limit: Number(match[1]), window: match[2]! };
  }
  if (credits !== undefined) {
    if (!/^\d+$/.test(credits.trim())) {
      throw new UsageError('--credits takes a whole number, for example 1000.', 'create');
    }
    limits.credits = { remaining: Number(credits) };
  }
  return limits;
}

export async function create({ keymint, invocation, io }: CommandContext): Promise<number> {
  const ttl = text(invocation, 'ttl');
  const owner = text(invocation, 'owner');
  const { key, apiKey } = await keymint.createApiKey({
    ...(owner !== undefined && { owner }),
    name: text(invocation, 'name')!,
    role: text(invocation, 'role')!,
    // No --ttl asks for a key that never expires, which keymint refuses unless allowed.
    ttl: ttl ?? null,
    scope: text(invocation, 'scope'),
    ...(permissionsOf(invocation) && { permissions: permissionsOf(invocation) }),
    ...limitsOf(invocation),
  });
  // Nothing half-written: each write is waited for, and a key that could not be delivered is
  // deleted, so that no valid key is left that nobody has.
  let stream = 'stdout';
  try {
    if (invocation.values.json) {
      const { id, name, role, scope, owner } = apiKey;
      const expiresAt = apiKey.expiresAt?.toISOString() ?? null;
      // The owner only when set: scripts written for 0.2.0 read the same six fields.
      const line = { id, name, role, scope, ...(owner !== null && { owner }), expiresAt, key };
      await deliver(io.stdout, `${JSON.stringify(line)}\n`);
    } else {
      const expires = apiKey.expiresAt ? readableDate(apiKey.expiresAt) : 'never';
      stream = 'stderr';
      await deliver(
        io.stderr,
        `Created API key "${apiKey.name}"\n` +
          `  id       ${apiKey.id}\n  role     ${apiKey.role}\n` +
          `  scope    ${apiKey.scope}\n` +
          (apiKey.owner === null ? '' : `  owner    ${apiKey.owner}\n`) +
          `  expires  ${expires}\n` +
          (apiKey.permissions
            ? `  permits  ${apiKey.permissions.join(' ') || '(nothing)'}\n`
            : '') +
          'This is the only time the key is shown: copy it now. keymint keeps only a hash.\n',
      );
      stream = 'stdout';
      await deliver(io.stdout, `${key}\n`);
    }
  } catch (error) {
    return withdraw(keymint, apiKey, `writing to ${stream} failed (${messageOf(error)})`, error);
  }
  return EXIT.OK;
}

/** Deletes a key `create` could not deliver, and says so (exit 4, through reportFailure). */
async function withdraw(
  keymint: Keymint,
  apiKey: ApiKey,
  why: string,
  cause: unknown,
): Promise<never> {
  const what = `The new key "${apiKey.name}" (id ${apiKey.id}) could not be delivered: ${why}.`;
  try {
    await keymint.deleteApiKey(apiKey.id);
  } catch (error) {
    throw new OutputError(
      `${what} Deleting it failed too (${messageOf(error)}): delete it with 'keymint delete ${apiKey.id}'.`,
      { cause },
    );
  }
  throw new OutputError(`${what} It was deleted: no key was created.`, { cause });
}

/** When the old key stops, for people. */
function oldKeyEnd(apiKey: ApiKey): string {
  const ends = apiKey.previousKeyExpiresAt;
  const rotated = apiKey.rotatedAt?.getTime() ?? 0;
  if (!ends || ends.getTime() <= rotated) return 'stopped at once (no grace period)';
  return `keeps working until ${readableDate(ends)}`;
}

export async function rotate({ keymint, invocation, io }: CommandContext): Promise<number> {
  const grace = text(invocation, 'grace');
  const ttl = text(invocation, 'ttl');
  const { key, apiKey } = await keymint.rotateApiKey(invocation.positionals[0]!, {
    ...(grace !== undefined && { gracePeriod: grace }),
    ...(ttl !== undefined && { ttl }),
  });
  // The rotation stands whatever happens to the output: undoing it is impossible (the old
  // secret's hash is now the previous one), and rotating again would end the old key at once,
  // turning a failed write into an outage of every client still on the old key.
  let stream = 'stdout';
  try {
    if (invocation.values.json) {
      const { id, name, role, scope } = recordJson(apiKey);
      const { expiresAt, previousKeyExpiresAt } = recordJson(apiKey);
      const line = { id, name, role, scope, expiresAt, previousKeyExpiresAt, key };
      await deliver(io.stdout, `${JSON.stringify(line)}\n`);
    } else {
      stream = 'stderr';
      await deliver(
        io.stderr,
        `Rotated API key "${apiKey.name}"\n` +
          `  id       ${apiKey.id}\n  role     ${apiKey.role}\n  scope    ${apiKey.scope}\n` +
          `  expires  ${readableExpiry(apiKey.expiresAt, new Date())}\n` +
          `  old key  ${oldKeyEnd(apiKey)}\n` +
          'This is the only time the new key is shown: copy it now. keymint keeps only a hash.\n',
      );
      stream = 'stdout';
      await deliver(io.stdout, `${key}\n`);
    }
  } catch (error) {
    throw new OutputError(
      `The key "${apiKey.name}" (id ${apiKey.id}) was rotated, but its new key could not be ` +
        `delivered: writing to ${stream} failed (${messageOf(error)}). The old key ${oldKeyEnd(apiKey)}. ` +
        `Run 'keymint rotate ${apiKey.id}' again to get a new key (that ends the old key at once: ` +
        'only one previous key is kept), or revoke the key.',
      { cause: error },
    );
  }
  return EXIT.OK;
}
