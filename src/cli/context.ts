// What every command of the `keymint` command gets (CommandContext), and the readers of its
// parsed options that several commands share.
import type { Keymint } from '../core/types.js';
import type { Invocation } from './args.js';
import type { CliIo } from './io.js';

export type RunInvocation = Extract<Invocation, { kind: 'run' }>;

/** What a command gets: the instance over the opened store, the parsed line, the streams. */
export interface CommandContext {
  keymint: Keymint;
  invocation: RunInvocation;
  io: CliIo;
  /** The key `verify` checks, read before the store was opened. */
  key?: string;
}

export const text = (invocation: RunInvocation, name: string): string | undefined => {
  const value = invocation.values[name];
  return typeof value === 'string' ? value : undefined;
};

/** `--permission`, repeatable: the list, or undefined when not given. */
export const permissionsOf = (invocation: RunInvocation): string[] | undefined => {
  const value = invocation.values.permission;
  return Array.isArray(value) ? [...value] : undefined;
};

export const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);
