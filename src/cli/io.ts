/**
 * Where the command writes; `process.stdout` and `process.stderr` fit. `write` calls `callback`
 * once the text is written, with the error when it could not be (a stream's write callback): the
 * command waits for it where delivery matters, such as the key `create` prints.
 */
export interface CliOutput {
  write(text: string, callback?: (error?: Error | null) => void): unknown;
}

/** Where `verify` may read a key from; `process.stdin` fits. */
export interface CliInput extends AsyncIterable<string | Uint8Array> {
  readonly isTTY?: boolean;
}

/** Everything the command takes from its process, so that tests can run it in-process. */
export interface CliIo {
  stdout: CliOutput;
  stderr: CliOutput;
  /** Read only by `verify`, and only when no key is given otherwise. */
  stdin?: CliInput;
  env: Readonly<Record<string, string | undefined>>;
  /** The folder relative SQLite paths (and the default `keymint.db`) resolve against. */
  cwd: string;
}
