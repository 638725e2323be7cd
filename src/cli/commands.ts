import type { ApiKey, Keymint, VerifyFailureReason } from '../core/types.js';
import type { Invocation, CommandName } from './args.js';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { scannerRules } from '../core/scanner-rules.js';
import { isKeymintError } from '../errors.js';
import { redactKeys } from './failures.js';
import { scanPaths, type ScanSkips } from './scan.js';
import { escapeUnshowable } from './escape.js';
import { EXIT, OutputError, UsageError } from './failures.js';
import type { CliIo } from './io.js';
import { presentedKey } from './key-input.js';
import {
  deliver,
  keyTable,
  printJson,
  printOut,
  readableDate,
  readableExpiry,
  recordJson,
} from './output.js';

type RunInvocation = Extract<Invocation, { kind: 'run' }>;

/** What a command gets: the instance over the opened store, the parsed line, the streams. */
export interface CommandContext {
  keymint: Keymint;
  invocation: RunInvocation;
  io: CliIo;
  /** The key `verify` checks, read before the store was opened. */
  key?: string;
}

const text = (invocation: RunInvocation, name: string): string | undefined => {
  const value = invocation.values[name];
  return typeof value === 'string' ? value : undefined;
};

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

const PAGE = 1000;

/** `--permission`, repeatable: the list, or undefined when not given. */
const permissionsOf = (invocation: RunInvocation): string[] | undefined => {
  const value = invocation.values.permission;
  return Array.isArray(value) ? [...value] : undefined;
};

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

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

async function create({ keymint, invocation, io }: CommandContext): Promise<number> {
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

async function list({ keymint, invocation, io }: CommandContext): Promise<number> {
  const scope = text(invocation, 'scope');
  const owner = text(invocation, 'owner');
  const includeExpired = invocation.values['include-expired'] === true;
  const keys = [];
  for (let after: string | undefined; ;) {
    const page = await keymint.listApiKeys({
      scope,
      ...(owner !== undefined && { owner }),
      includeExpired,
      limit: PAGE,
      after,
    });
    keys.push(...page);
    if (page.length < PAGE) break;
    after = page.at(-1)!.name;
  }
  if (invocation.values.json) await printJson(io.stdout, keys.map(recordJson));
  else if (keys.length === 0) {
    const whose = owner === undefined ? '' : ` owned by "${owner}"`;
    io.stderr.write(escapeUnshowable(`No keys${whose} in scope "${scope ?? 'default'}".\n`));
  } else await printOut(io.stdout, keyTable(keys, new Date()));
  return EXIT.OK;
}

const describe = (apiKey: ApiKey, now: Date): string =>
  `key ${apiKey.id} ("${apiKey.name}", role ${apiKey.role}, scope ${apiKey.scope}, expires ${readableExpiry(apiKey.expiresAt, now)}${apiKey.permissions ? `, permits ${apiKey.permissions.join(' ') || 'nothing'}` : ''})`;

async function update({ keymint, invocation, io }: CommandContext): Promise<number> {
  const [name, role, ttl] = ['name', 'role', 'ttl'].map((option) => text(invocation, option));
  const permissions = permissionsOf(invocation);
  const all = invocation.values['all-permissions'] === true;
  if (all && permissions) {
    throw new UsageError('Give either --permission or --all-permissions, not both.', 'update');
  }
  const apiKey = await keymint.updateApiKey(invocation.positionals[0]!, {
    ...(name !== undefined && { name }),
    ...(role !== undefined && { role }),
    ...(ttl !== undefined && { ttl }),
    ...(permissions && { permissions }),
    ...(all && { permissions: null }),
  });
  if (invocation.values.json) await printJson(io.stdout, recordJson(apiKey));
  else await printOut(io.stdout, `Updated ${describe(apiKey, new Date())}.\n`);
  return EXIT.OK;
}

/** When the old key stops, for people. */
function oldKeyEnd(apiKey: ApiKey): string {
  const ends = apiKey.previousKeyExpiresAt;
  const rotated = apiKey.rotatedAt?.getTime() ?? 0;
  if (!ends || ends.getTime() <= rotated) return 'stopped at once (no grace period)';
  return `keeps working until ${readableDate(ends)}`;
}

async function rotate({ keymint, invocation, io }: CommandContext): Promise<number> {
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

async function revoke({ keymint, invocation, io }: CommandContext): Promise<number> {
  const owner = text(invocation, 'owner');
  const id = invocation.positionals[0];
  if (owner !== undefined) {
    const scope = text(invocation, 'scope');
    const count = await keymint.revokeApiKeys({ owner, ...(scope !== undefined && { scope }) });
    const shown = scope ?? 'default';
    if (invocation.values.json) await printJson(io.stdout, { owner, scope: shown, revoked: count });
    else {
      await printOut(
        io.stdout,
        `Revoked ${count} key${count === 1 ? '' : 's'} of owner "${owner}" in scope "${shown}".\n`,
      );
    }
    return EXIT.OK;
  }
  if (text(invocation, 'scope') !== undefined) {
    throw new UsageError('--scope goes with --owner: a key id names its scope already.', 'revoke');
  }
  const apiKey = await keymint.revokeApiKey(id!);
  if (invocation.values.json) await printJson(io.stdout, recordJson(apiKey));
  else {
    await printOut(
      io.stdout,
      `Revoked key ${apiKey.id} ("${apiKey.name}", scope ${apiKey.scope}).\n`,
    );
  }
  return EXIT.OK;
}

async function remove({ keymint, invocation, io }: CommandContext): Promise<number> {
  const id = invocation.positionals[0]!;
  await keymint.deleteApiKey(id);
  if (invocation.values.json) await printJson(io.stdout, { id, deleted: true });
  else await printOut(io.stdout, `Deleted key ${id}.\n`);
  return EXIT.OK;
}

async function verify({ keymint, invocation, io, key }: CommandContext): Promise<number> {
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

async function purge({ keymint, invocation, io }: CommandContext): Promise<number> {
  const olderThan = text(invocation, 'older-than');
  const purged = await keymint.purgeExpired(olderThan === undefined ? {} : { olderThan });
  if (invocation.values.json) await printJson(io.stdout, { purged });
  else await printOut(io.stdout, `Purged ${purged} expired key${purged === 1 ? '' : 's'}.\n`);
  return EXIT.OK;
}

/** `rules`: scanner rules for the key format; needs no store. */
export async function printRules(invocation: RunInvocation, io: CliIo): Promise<number> {
  const format = text(invocation, 'format');
  if (format !== 'gitleaks' && format !== 'trufflehog') {
    throw new UsageError("'rules' needs --format gitleaks or --format trufflehog.", 'rules');
  }
  const prefix = text(invocation, 'prefix');
  await printOut(io.stdout, scannerRules({ format, ...(prefix !== undefined && { prefix }) }));
  return EXIT.OK;
}

/** `scan`: keys with a valid checksum in files; `--revoke` revokes the ones that verify. */
async function scan({ keymint, invocation, io }: CommandContext): Promise<number> {
  const prefix = text(invocation, 'prefix') ?? 'km';
  const revoke = invocation.values.revoke === true;
  const skips: ScanSkips = { large: [], binary: [], unreadable: [] };
  const names = new Map<string, string | null>();
  const json: object[] = [];
  let found = 0;
  let revoked = 0;
  for await (const finding of scanPaths(invocation.positionals, prefix, skips, io.cwd)) {
    found++;
    let name = names.get(finding.id);
    if (name === undefined) {
      try {
        name = (await keymint.getApiKey(finding.id)).name;
      } catch (error) {
        if (!isKeymintError(error, 'NOT_FOUND')) throw error;
        name = null;
      }
      names.set(finding.id, name);
    }
    let outcome: { truePositive: boolean; revoked: boolean } | undefined;
    if (revoke) {
      const result = await keymint.reportLeakedKey(finding.key, {
        source: 'keymint scan',
        url: pathToFileURL(path.resolve(io.cwd, finding.file)).href,
      });
      outcome = {
        truePositive: result.truePositive,
        revoked: result.truePositive && result.revoked,
      };
      if (outcome.revoked) revoked++;
    }
    const { file, line, column, id } = finding;
    if (invocation.values.json) {
      json.push({ file, line, column, id, name, ...outcome });
    } else {
      const shown = name === null ? '-' : escapeUnshowable(redactKeys(name));
      await printOut(io.stdout, `${escapeUnshowable(file)}:${line}:${column} ${id} ${shown}\n`);
      if (outcome?.revoked) io.stderr.write(`keymint: revoked ${id}\n`);
    }
  }
  if (invocation.values.json) await printJson(io.stdout, json);
  const skipped = [
    skips.large.length && `${skips.large.length} over 10 MiB`,
    skips.binary.length && `${skips.binary.length} binary`,
    skips.unreadable.length && `${skips.unreadable.length} unreadable`,
  ].filter(Boolean);
  const summary =
    `keymint: ${found} key${found === 1 ? '' : 's'} found` +
    (revoke ? `, ${revoked} revoked` : '') +
    (skipped.length ? `; skipped ${skipped.join(', ')}` : '') +
    '.\n';
  io.stderr.write(summary);
  return found > 0 ? EXIT.FOUND : EXIT.OK;
}

/** The commands that open a store. */
export type StoreCommand = Exclude<CommandName, 'rules'>;

export const COMMAND_RUNNERS: Record<StoreCommand, (context: CommandContext) => Promise<number>> = {
  create,
  list,
  update,
  rotate,
  revoke,
  delete: remove,
  verify,
  purge,
  scan,
};

/** Reads what a command needs before the store is opened, so that usage errors come first. */
export async function prepare(invocation: RunInvocation, io: CliIo): Promise<{ key?: string }> {
  if (invocation.command === 'verify') {
    return { key: await presentedKey(invocation.positionals[0], io) };
  }
  if (invocation.command === 'create') {
    const missing = ['name', 'role'].filter((name) => text(invocation, name) === undefined);
    if (missing.length > 0) {
      const flags = missing.map((name) => `--${name} <${name}>`).join(' and ');
      throw new UsageError(`'create' needs ${flags}.`, 'create');
    }
  }
  if (invocation.command === 'update') {
    if (
      ['name', 'role', 'ttl'].every((name) => text(invocation, name) === undefined) &&
      permissionsOf(invocation) === undefined &&
      invocation.values['all-permissions'] !== true
    ) {
      throw new UsageError(
        "'update' needs at least one of --name <name>, --role <role>, --ttl <ttl>, --permission <permission>, --all-permissions.",
        'update',
      );
    }
  }
  return {};
}
