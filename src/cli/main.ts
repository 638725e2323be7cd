import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createKeymint } from '../core/keymint.js';
import { parseInvocation, type Invocation } from './args.js';
import type { StoreCommand } from './commands.js';
import { COMMAND_RUNNERS, prepare, printRules } from './commands.js';
import { escapeUnshowable } from './escape.js';
import { EXIT, reportFailure, UsageError } from './failures.js';
import { helpText } from './help.js';
import type { CliIo } from './io.js';
import { printOut } from './output.js';
import { openStore } from './store.js';
import { describeTarget, parseDbTarget } from './target.js';
import { packageVersion } from './version.js';

export type { CliInput, CliIo, CliOutput } from './io.js';
export { EXIT } from './failures.js';

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/**
 * KEYMINT_PERMISSIONS: the host's permissions map (createKeymint's `permissions`), as JSON or as
 * the path of a JSON file, so that --permission is checked against the same map as the server.
 */
function permissionsMap(io: CliIo): Record<string, string[]> | undefined {
  const value = io.env.KEYMINT_PERMISSIONS;
  if (value === undefined || value.trim() === '') return undefined;
  let text = value;
  if (!value.trim().startsWith('{')) {
    try {
      text = readFileSync(path.resolve(io.cwd, value), 'utf8');
    } catch (error) {
      throw new UsageError(
        `KEYMINT_PERMISSIONS is neither a JSON object nor a readable file (${messageOf(error)}).`,
      );
    }
  }
  try {
    return JSON.parse(text) as Record<string, string[]>;
  } catch {
    throw new UsageError(
      'KEYMINT_PERMISSIONS must hold a JSON object from role to permissions, for example {"Viewer":["dashboards:read"]}.',
    );
  }
}

async function run(
  invocation: Extract<Invocation, { kind: 'run' }> & { command: StoreCommand },
  io: CliIo,
): Promise<number> {
  const db = invocation.values.db;
  const target = parseDbTarget(typeof db === 'string' ? db : io.env.KEYMINT_DB, io.cwd);
  const { key } = await prepare(invocation, io);
  const permissions = permissionsMap(io);
  const store = await openStore(target, { create: invocation.command === 'create' });
  if (store.created) {
    const created = `Created the ${describeTarget(target)} (mode 0600: its owner only).\n`;
    io.stderr.write(escapeUnshowable(created));
  }
  const warn = (error: unknown) =>
    io.stderr.write(`keymint: warning: ${escapeUnshowable(messageOf(error))}\n`);
  try {
    // No verify cache: one command, one check, and no listener connection to open.
    const keymint = createKeymint({
      adapter: store.adapter,
      cache: false,
      onBackgroundError: warn,
      ...(permissions && { permissions }),
      // scan --prefix: the keys it finds are verified (and revoked) with their own prefix.
      ...(typeof invocation.values.prefix === 'string' && { prefix: invocation.values.prefix }),
    });
    try {
      return await COMMAND_RUNNERS[invocation.command]({ keymint, invocation, io, key });
    } finally {
      // Writes the last-used time of a key just verified, before the file or pool goes.
      await keymint.close().catch(warn);
    }
  } finally {
    await store.close().catch(warn);
  }
}

/**
 * Runs the `keymint` command with `argv` (the arguments after the script) and returns its exit
 * code ({@link EXIT}). Never throws: failures are printed to `io.stderr`, with a stack only when
 * KEYMINT_DEBUG=1, and never with a key in them. Results on `io.stdout` are waited for; `create`
 * deletes the key it made when it cannot write it (exit 4).
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const invocation = parseInvocation(argv);
    switch (invocation.kind) {
      case 'help':
        await printOut(io.stdout, helpText(invocation.command));
        return EXIT.OK;
      case 'version':
        await printOut(io.stdout, `${packageVersion()}\n`);
        return EXIT.OK;
      case 'run':
        // Commands that need no store.
        if (invocation.command === 'rules') return await printRules(invocation, io);
        return await run({ ...invocation, command: invocation.command }, io);
    }
  } catch (error) {
    return reportFailure(error, io);
  }
}
