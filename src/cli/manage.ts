// The commands that read and change stored keys without showing one: `list`, `update`,
// `revoke`, `delete` and `purge`.
import type { ApiKey } from '../core/types.js';
import { permissionsOf, text, type CommandContext } from './context.js';
import { escapeUnshowable } from './escape.js';
import { EXIT, UsageError } from './failures.js';
import { keyTable, printJson, printOut, readableExpiry, recordJson } from './output.js';

const PAGE = 1000;

export async function list({ keymint, invocation, io }: CommandContext): Promise<number> {
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

export async function update({ keymint, invocation, io }: CommandContext): Promise<number> {
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

export async function revoke({ keymint, invocation, io }: CommandContext): Promise<number> {
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

export async function remove({ keymint, invocation, io }: CommandContext): Promise<number> {
  const id = invocation.positionals[0]!;
  await keymint.deleteApiKey(id);
  if (invocation.values.json) await printJson(io.stdout, { id, deleted: true });
  else await printOut(io.stdout, `Deleted key ${id}.\n`);
  return EXIT.OK;
}

export async function purge({ keymint, invocation, io }: CommandContext): Promise<number> {
  const olderThan = text(invocation, 'older-than');
  const purged = await keymint.purgeExpired(olderThan === undefined ? {} : { olderThan });
  if (invocation.values.json) await printJson(io.stdout, { purged });
  else await printOut(io.stdout, `Purged ${purged} expired key${purged === 1 ? '' : 's'}.\n`);
  return EXIT.OK;
}
