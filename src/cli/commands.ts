// The commands of `keymint` by name (COMMAND_RUNNERS), and what is read before the store opens.
// Each family of commands has its own module: issue.ts, manage.ts, verify.ts, leaks.ts.
import type { CommandName } from './args.js';
import { permissionsOf, text, type CommandContext, type RunInvocation } from './context.js';
import { UsageError } from './failures.js';
import type { CliIo } from './io.js';
import { create, rotate } from './issue.js';
import { presentedKey } from './key-input.js';
import { scan } from './leaks.js';
import { list, purge, remove, revoke, update } from './manage.js';
import { verify } from './verify.js';

export type { CommandContext } from './context.js';
export { printRules } from './leaks.js';

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
