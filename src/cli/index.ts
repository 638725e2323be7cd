// The `keymint` command (package.json "bin", built to dist/cli.js). The logic is in main.ts.
import { EXIT } from './failures.js';
import { runCli } from './main.js';

// The commands see their write errors in the write callbacks (create deletes a key it could not
// deliver). These listeners only keep a stream's 'error' event from becoming an uncaught exception,
// which would print a stack trace and exit 1, the code of "verify: key not valid"; they never throw.
// - EPIPE: the reader went away (`keymint list | head -1`). Not a failure: the command did its
//   work, and keeps its exit code (0 for list), as `head` meant it to.
// - Anything else (a full disk, a closed file): the output is lost, so the exit code is 4.
let outputFailed = false;
const onOutputError = (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') return;
  outputFailed = true;
  process.exitCode = EXIT.FAILURE;
};
process.stdout.on('error', onOutputError);
process.stderr.on('error', onOutputError);

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  // A getter: only verify touches stdin, and only when it reads the key from there.
  get stdin() {
    return process.stdin;
  },
  env: process.env,
  cwd: process.cwd(),
});
// An error event may come before runCli returns, or after (then the listener sets the code).
process.exitCode = outputFailed ? EXIT.FAILURE : code;
