/** Where the command writes; `process.stdout` and `process.stderr` fit. */
export interface CliOutput {
  write(text: string): unknown;
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
