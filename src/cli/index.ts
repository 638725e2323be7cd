// The `keymint` command (package.json "bin", built to dist/cli.js). The logic is in main.ts.
import { runCli } from './main.js';

// `keymint list | head -1`: the reader went away; nothing more to say, and no crash.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  // A getter: only verify touches stdin, and only when it reads the key from there.
  get stdin() {
    return process.stdin;
  },
  env: process.env,
  cwd: process.cwd(),
});
