import { parseArgs, type ParseArgsConfig } from 'node:util';
import { looksLikeKey, UsageError } from './failures.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every command takes. */
const GLOBAL_OPTIONS = {
  db: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

interface CommandSpec {
  options: Options;
  /**
   * Names of the positional arguments; a trailing `?` marks an optional one, a trailing `...` a
   * last one that takes one or more.
   */
  positionals: readonly string[];
}

export const COMMANDS = {
  create: {
    options: {
      name: { type: 'string' },
      role: { type: 'string' },
      ttl: { type: 'string' },
      scope: { type: 'string' },
      permission: { type: 'string', multiple: true },
      owner: { type: 'string' },
      'rate-limit': { type: 'string' },
      credits: { type: 'string' },
    },
    positionals: [],
  },
  list: {
    options: {
      scope: { type: 'string' },
      owner: { type: 'string' },
      'include-expired': { type: 'boolean' },
    },
    positionals: [],
  },
  update: {
    options: {
      name: { type: 'string' },
      role: { type: 'string' },
      ttl: { type: 'string' },
      permission: { type: 'string', multiple: true },
      'all-permissions': { type: 'boolean' },
    },
    positionals: ['id'],
  },
  rotate: { options: { grace: { type: 'string' }, ttl: { type: 'string' } }, positionals: ['id'] },
  revoke: {
    options: { owner: { type: 'string' }, scope: { type: 'string' } },
    positionals: ['id?'],
  },
  delete: { options: {}, positionals: ['id'] },
  verify: {
    options: {
      role: { type: 'string' },
      scope: { type: 'string' },
      permission: { type: 'string', multiple: true },
    },
    positionals: ['key?'],
  },
  purge: { options: { 'older-than': { type: 'string' } }, positionals: [] },
  rules: { options: { format: { type: 'string' }, prefix: { type: 'string' } }, positionals: [] },
  scan: {
    options: { revoke: { type: 'boolean' }, prefix: { type: 'string' } },
    positionals: ['path...'],
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[];

/** What the command line asks for. */
export type Invocation =
  | { kind: 'help'; command?: CommandName }
  | { kind: 'version' }
  | {
      kind: 'run';
      command: CommandName;
      values: Readonly<Record<string, string | boolean | readonly string[] | undefined>>;
      positionals: readonly string[];
    };

const isCommand = (name: string): name is CommandName => Object.hasOwn(COMMANDS, name);

// Every option any command takes, so that the first pass does not mistake a value for the command.
const ALL_OPTIONS: Options = Object.assign(
  { version: { type: 'boolean', short: 'V' } },
  GLOBAL_OPTIONS,
  ...COMMAND_NAMES.map((name) => COMMANDS[name].options),
);

// What usage errors repeat of the command line. stderr lands in CI logs, and a key given in the
// wrong place (`keymint "$KEY"`, `keymint list "$KEY"`) must not, so only short words are repeated:
// a command as typed, an option name, an extra argument such as a key id. Nothing with `_` (a
// key's separator) and nothing long (a key's secret is 34 characters).
const SHOWN_COMMAND = /^[a-z][a-z-]{0,19}$/;
const SHOWN_OPTION = /^--?[A-Za-z0-9][A-Za-z0-9-]{0,23}$/;
const SHOWN_ARGUMENT = /^[A-Za-z0-9][A-Za-z0-9.:@/-]{0,23}$/;

const VERIFY_HINT = `To check a key, give it to verify on stdin: printf '%s' "$KEY" | keymint verify.`;

function unknownCommand(name: string): UsageError {
  const commands = `Commands: ${COMMAND_NAMES.join(', ')}.`;
  if (SHOWN_COMMAND.test(name)) return new UsageError(`Unknown command '${name}'. ${commands}`);
  if (looksLikeKey(name)) {
    return new UsageError(`Expected a command, got what looks like an API key. ${VERIFY_HINT}`);
  }
  return new UsageError(`Unknown command (not repeated here). ${commands}`);
}

/** node:util's messages, made shorter where they point at `--` tricks nobody needs here. */
function parseError(error: unknown, command: CommandName): UsageError {
  const message = error instanceof Error ? error.message : String(error);
  const unknown = /^Unknown option '([^']+)'/.exec(message);
  if (unknown) {
    const option = unknown[1]!;
    const shown = SHOWN_OPTION.test(option) ? ` '${option}'` : ' (not repeated here)';
    return new UsageError(`Unknown option${shown} for '${command}'.`, command);
  }
  // The other messages (missing value, value not taken, ambiguous) name the option, not its value.
  return new UsageError(message, command);
}

/**
 * Refuses a key given as an option value or as an id: the command would hand it to keymint (a key
 * stored as a name, or repeated in an error message) or print it (`No keys in scope "km_…"`).
 */
function refuseKeys(
  command: CommandName,
  values: Readonly<Record<string, unknown>>,
  positionals: readonly string[],
): void {
  for (const [name, value] of Object.entries(values)) {
    // --db is checked with KEYMINT_DB, without the password of a URL (parseDbTarget).
    const strings = Array.isArray(value) ? value : [value];
    if (name !== 'db' && strings.some((v) => typeof v === 'string' && looksLikeKey(v))) {
      throw new UsageError(
        `--${name} looks like an API key, so it is neither used nor repeated here. ${VERIFY_HINT}`,
        command,
      );
    }
  }
  // verify's argument is the key; update, rotate, revoke and delete take the key's id.
  if (command !== 'verify' && positionals.some(looksLikeKey)) {
    throw new UsageError(
      `'${command}' takes a key's id, not the key: the 12 characters after the prefix, as 'keymint list' shows them. The argument is not repeated here.`,
      command,
    );
  }
}

/** Reads argv (without `node` and the script) into an {@link Invocation}; throws UsageError. */
export function parseInvocation(argv: readonly string[]): Invocation {
  const { tokens } = parseArgs({
    args: [...argv],
    options: ALL_OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const first = tokens.find((token) => token.kind === 'positional');
  // Only an option written on its own (`-h`, `--help`, `--help=…`), not a letter of a group such
  // as `-km_…h…`: a key pasted after a dash must not turn into a request for help or the version.
  const asked = (name: string) =>
    tokens.some(
      (t) =>
        t.kind === 'option' &&
        t.name === name &&
        (argv[t.index] === t.rawName || argv[t.index]?.startsWith(`${t.rawName}=`)),
    );

  if (!first || first.value === 'help') {
    const topic = first ? tokens.filter((t) => t.kind === 'positional')[1]?.value : undefined;
    if (topic !== undefined && !isCommand(topic)) throw unknownCommand(topic);
    if (first || asked('help')) return { kind: 'help', command: topic as CommandName | undefined };
    if (asked('version') && argv.length === 1) return { kind: 'version' };
    if (argv.length === 0) throw new UsageError('No command given.');
    throw new UsageError(`Expected a command (${COMMAND_NAMES.join(', ')}) or --help.`);
  }
  const command = first.value;
  if (!isCommand(command)) throw unknownCommand(command);
  if (asked('help')) return { kind: 'help', command };

  const spec: CommandSpec = COMMANDS[command];
  const rest = argv.filter((_, index) => index !== first.index);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...GLOBAL_OPTIONS, ...spec.options },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw parseError(error, command);
  }
  const required = spec.positionals.filter((name) => !name.endsWith('?'));
  const variadic = spec.positionals.at(-1)?.endsWith('...') === true;
  if (!variadic && parsed.positionals.length > spec.positionals.length) {
    const extra = parsed.positionals[spec.positionals.length]!;
    const takes =
      spec.positionals.length === 0
        ? 'takes no arguments'
        : `takes ${spec.positionals.map((name) => `<${name.replace('?', '')}>`).join(' ')} only`;
    // Never echo an extra argument to verify (it may be a key), nor one that could be a key.
    const shown = command !== 'verify' && SHOWN_ARGUMENT.test(extra) ? `: '${extra}'` : '';
    throw new UsageError(`'${command}' ${takes}; got an extra argument${shown}.`, command);
  }
  refuseKeys(command, parsed.values, parsed.positionals);
  // revoke takes a key's <id> or --owner: exactly one of them.
  if (
    command === 'revoke' &&
    (parsed.values.owner === undefined) === (parsed.positionals.length === 0)
  ) {
    throw new UsageError(
      parsed.positionals.length === 0
        ? "'revoke' needs <id> (or --owner <owner> for every key of an owner)."
        : "'revoke' takes a key's <id> or --owner <owner>, not both.",
      command,
    );
  }
  if (parsed.positionals.length < required.length) {
    const missing = required[parsed.positionals.length]!.replace('...', '');
    throw new UsageError(`'${command}' needs <${missing}>.`, command);
  }
  // Only --permission is `multiple` (an array of strings); the others are strings or booleans.
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  return { kind: 'run', command, values, positionals: parsed.positionals };
}
