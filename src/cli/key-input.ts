import { MAX_KEY_LENGTH } from '../core/key-format.js';
import { UsageError } from './failures.js';
import type { CliInput, CliIo } from './io.js';

// Far more than any key; past it the input is not a key, and reading stops.
const READ_LIMIT = 64 * MAX_KEY_LENGTH;

async function readLimited(input: CliInput): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk);
    chunks.push(buffer);
    size += buffer.length;
    if (size > READ_LIMIT) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Printed when `verify` gets its key as an argument; it never repeats the key. */
const KEY_IN_ARGV_WARNING =
  'keymint: warning: a key given as an argument lands in the shell history and is visible to ' +
  'other users in ps; pipe it on stdin (printf \'%s\' "$KEY" | keymint verify) or set KEYMINT_KEY.\n';

/**
 * The key `verify` checks: the argument (with a warning on stderr); `-` for stdin; without an
 * argument, KEYMINT_KEY, else stdin when it is not a terminal. Surrounding whitespace (a trailing
 * newline) is dropped.
 */
export async function presentedKey(argument: string | undefined, io: CliIo): Promise<string> {
  if (argument !== undefined && argument !== '-') {
    io.stderr.write(KEY_IN_ARGV_WARNING);
    return argument.trim();
  }
  if (argument === undefined) {
    const fromEnv = io.env.KEYMINT_KEY;
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv.trim();
  }
  const stdin = io.stdin;
  if (!stdin || (argument === undefined && stdin.isTTY)) {
    throw new UsageError(
      "'verify' needs a key: pipe it on stdin (printf '%s' \"$KEY\" | keymint verify), set KEYMINT_KEY, or pass it as an argument.",
      'verify',
    );
  }
  const key = (await readLimited(stdin)).trim();
  if (key === '') throw new UsageError("'verify' read no key from stdin.", 'verify');
  return key;
}
