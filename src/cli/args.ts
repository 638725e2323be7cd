import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './failures.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every command takes. */
const GLOBAL_OPTIONS = {
  db: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

interface CommandSpec {
  options: Options;
  /** Names of the positional arguments; a trailing `?` marks an optional one. */
  positionals: readonly string[];
}

export const COMMANDS = {
  create: {
    options: {
      name: { type: 'string' },
      role: { type: 'string' },
      ttl: { type: 'string' },
      scope: { type: 'string' },
    },
    positionals: [],
  },
  list: {
    options: { scope: { type: 'string' }, 'include-expired': { type: 'boolean' } },
    positionals: [],
  },
  revoke: { options: {}, positionals: ['id'] },
  delete: { options: {}, positionals: ['id'] },
  verify: {
    options: { role: { type: 'string' }, scope: { type: 'string' } },
    positionals: ['key?'],
  },
  purge: { options: { 'older-than': { type: 'string' } }, positionals: [] },
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
      values: Readonly<Record<string, string | boolean | undefined>>;
      positionals: readonly string[];
    };

const isCommand = (name: string): name is CommandName => Object.hasOwn(COMMANDS, name);

// Every option any command takes, so that the first pass does not mistake a value for the command.
const ALL_OPTIONS: Options = Object.assign(
  { version: { type: 'boolean', short: 'V' } },
  GLOBAL_OPTIONS,
  ...COMMAND_NAMES.map((name) => COMMANDS[name].options),
);

function unknownCommand(name: string): UsageError {
  return new UsageError(`Unknown command '${name}'. Commands: ${COMMAND_NAMES.join(', ')}.`);
}

/** node:util's messages, made shorter where they point at `--` tricks nobody needs here. */
function parseError(error: unknown, command: CommandName): UsageError {
  const message = error instanceof Error ? error.message : String(error);
  const unknown = /^Unknown option '([^']+)'/.exec(message);
  if (unknown) return new UsageError(`Unknown option '${unknown[1]}' for '${command}'.`, command);
  return new UsageError(message, command);
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
  const asked = (name: string) => tokens.some((t) => t.kind === 'option' && t.name === name);

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
  if (parsed.positionals.length > spec.positionals.length) {
    const extra = parsed.positionals[spec.positionals.length]!;
    const takes =
      spec.positionals.length === 0
        ? 'takes no arguments'
        : `takes ${spec.positionals.map((name) => `<${name.replace('?', '')}>`).join(' ')} only`;
    // Never echo an extra argument to verify: it may be a key.
    const shown = command === 'verify' ? '' : `: '${extra}'`;
    throw new UsageError(`'${command}' ${takes}; got an extra argument${shown}.`, command);
  }
  if (parsed.positionals.length < required.length) {
    throw new UsageError(`'${command}' needs <${required[parsed.positionals.length]}>.`, command);
  }
  // No option is `multiple`, so every value is a string, a boolean or undefined.
  const values = parsed.values as Record<string, string | boolean | undefined>;
  return { kind: 'run', command, values, positionals: parsed.positionals };
}
