import { KEY_ID_LENGTH, KEY_SECRET_LENGTH } from '../core/key-format.js';
import { isKeymintError, type KeymintErrorCode } from '../errors.js';
import { escapeUnshowable } from './escape.js';
import type { CliIo } from './io.js';

/** The exit codes of the `keymint` command. They are part of its interface: never renumber. */
export const EXIT = {
  /** The command did what was asked (verify: the key is valid). */
  OK: 0,
  /** verify: the key is not valid; the reason is printed. */
  INVALID_KEY: 1,
  /** scan: keys were found (and, with --revoke, the valid ones revoked). */
  FOUND: 1,
  /** The command line is wrong: unknown command or option, missing value, extra argument. */
  USAGE: 2,
  /**
   * keymint refused the input: bad TTL or role, taken name, unknown id, a revoked or expired key
   * to update or rotate, a rotation that lost a race with another one. Nothing was changed.
   */
  REFUSED: 3,
  /**
   * The store or something else failed: nothing can be said about the request. Also: output could
   * not be written (not for a reader that left early, EPIPE), `create` could not deliver its
   * key, which it then deleted, and `rotate` could not deliver the new key (the rotation stands).
   */
  FAILURE: 4,
} as const;

/** Codes that mean "the request was wrong", as opposed to "keymint could not answer". */
const REFUSED_CODES: ReadonlySet<KeymintErrorCode> = new Set<KeymintErrorCode>([
  'INVALID_TTL',
  'TTL_TOO_LONG',
  'INVALID_ROLE',
  'INVALID_INPUT',
  'NAME_TAKEN',
  'NOT_FOUND',
  'FORBIDDEN',
  'KEYS_LIMIT',
  'REVOKED',
  'EXPIRED',
  'CONFLICT',
]);

/** A mistake on the command line (exit 2). `help` names the command whose usage to suggest. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly help?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The store could not be opened: driver missing, bad file, server unreachable (exit 4). */
export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/**
 * Output could not be written (exit 4): a full disk, a pipe whose reader left during `create` (a
 * key that could not be delivered, and was deleted). The message says it all, cause included.
 */
export class OutputError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OutputError';
  }
}

/** A key of any prefix, or most of one: `<prefix>_<12-character id>_` and 8 or more characters. */
const KEY_SHAPE = `[a-z][a-z0-9]{0,15}_[0-9A-Za-z]{${KEY_ID_LENGTH}}_[0-9A-Za-z]{8,}`;
/**
 * A run of letters and digits as long as a secret without its checksum: a secret on its own, or a
 * mangled key, when it mixes digits, upper and lower case.
 */
const LONG_RUN = `[0-9A-Za-z]{${KEY_SECRET_LENGTH},}`;
const isSecretLike = (run: string): boolean =>
  /[0-9]/.test(run) && /[a-z]/.test(run) && /[A-Z]/.test(run);

/**
 * True when `text` holds something that looks like an API key or its secret: the command never
 * prints such a value, nor hands it to keymint as a name, role, scope, TTL or id.
 */
export function looksLikeKey(text: string): boolean {
  if (new RegExp(KEY_SHAPE).test(text)) return true;
  return (text.match(new RegExp(LONG_RUN, 'g')) ?? []).some(isSecretLike);
}

/** `text` with whatever looks like a key (see {@link looksLikeKey}) replaced by `<redacted>`. */
export function redactKeys(text: string): string {
  return text
    .replace(new RegExp(KEY_SHAPE, 'g'), '<redacted>')
    .replace(new RegExp(LONG_RUN, 'g'), (run) => (isSecretLike(run) ? '<redacted>' : run));
}

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

function debugDetails(error: unknown): string {
  const lines: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    lines.push(current instanceof Error ? (current.stack ?? current.message) : String(current));
    current = current instanceof Error ? current.cause : undefined;
    if (current !== undefined) lines.push('Caused by:');
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Prints `error` to stderr (a stack only with KEYMINT_DEBUG=1) and returns the exit code. Anything
 * that looks like a key is redacted, whatever message it comes in.
 */
export function reportFailure(error: unknown, io: CliIo): number {
  const write = (text: string) =>
    io.stderr.write(`keymint: ${escapeUnshowable(redactKeys(text))}\n`);
  let code: number;
  if (error instanceof UsageError) {
    write(error.message);
    const command = error.help ? `keymint ${error.help} --help` : 'keymint --help';
    io.stderr.write(`Run '${command}' for usage.\n`);
    code = EXIT.USAGE;
  } else if (isKeymintError(error)) {
    const refused = REFUSED_CODES.has(error.code);
    // A store's own message (connection refused, database locked) is what an operator can act on.
    const cause = !refused && error.cause !== undefined ? ` (${messageOf(error.cause)})` : '';
    write(`${error.code}: ${error.message}${cause}`);
    code = refused ? EXIT.REFUSED : EXIT.FAILURE;
  } else if (error instanceof StoreError || error instanceof OutputError) {
    write(error.message);
    code = EXIT.FAILURE;
  } else {
    write(`unexpected failure: ${messageOf(error)}`);
    code = EXIT.FAILURE;
  }
  // A StoreError without a cause (no such file) and an OutputError have said all there is.
  const hasMore =
    !(error instanceof StoreError && error.cause === undefined) && !(error instanceof OutputError);
  if (io.env.KEYMINT_DEBUG === '1') {
    io.stderr.write(escapeUnshowable(redactKeys(debugDetails(error))));
  } else if (code === EXIT.FAILURE && hasMore)
    io.stderr.write('Set KEYMINT_DEBUG=1 for details.\n');
  return code;
}
