// The commands about leaked keys: `rules` prints secret-scanner rules for the key format, `scan`
// finds keys in files and, with --revoke, revokes the ones that verify.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { scannerRules } from '../core/scanner-rules.js';
import { isKeymintError } from '../errors.js';
import { text, type CommandContext, type RunInvocation } from './context.js';
import { escapeUnshowable } from './escape.js';
import { EXIT, redactKeys, UsageError } from './failures.js';
import type { CliIo } from './io.js';
import { printJson, printOut } from './output.js';
import { scanPaths, type ScanSkips } from './scan.js';

/** `rules`: scanner rules for the key format; needs no store. */
export async function printRules(invocation: RunInvocation, io: CliIo): Promise<number> {
  const format = text(invocation, 'format');
  if (format !== 'gitleaks' && format !== 'trufflehog') {
    throw new UsageError("'rules' needs --format gitleaks or --format trufflehog.", 'rules');
  }
  const prefix = text(invocation, 'prefix');
  await printOut(io.stdout, scannerRules({ format, ...(prefix !== undefined && { prefix }) }));
  return EXIT.OK;
}

/** `scan`: keys with a valid checksum in files; `--revoke` revokes the ones that verify. */
export async function scan({ keymint, invocation, io }: CommandContext): Promise<number> {
  const prefix = text(invocation, 'prefix') ?? 'km';
  const revoke = invocation.values.revoke === true;
  const skips: ScanSkips = { large: [], binary: [], unreadable: [] };
  const names = new Map<string, string | null>();
  const json: object[] = [];
  let found = 0;
  let revoked = 0;
  for await (const finding of scanPaths(invocation.positionals, prefix, skips, io.cwd)) {
    found++;
    let name = names.get(finding.id);
    if (name === undefined) {
      try {
        name = (await keymint.getApiKey(finding.id)).name;
      } catch (error) {
        if (!isKeymintError(error, 'NOT_FOUND')) throw error;
        name = null;
      }
      names.set(finding.id, name);
    }
    let outcome: { truePositive: boolean; revoked: boolean } | undefined;
    if (revoke) {
      const result = await keymint.reportLeakedKey(finding.key, {
        source: 'keymint scan',
        url: pathToFileURL(path.resolve(io.cwd, finding.file)).href,
      });
      outcome = {
        truePositive: result.truePositive,
        revoked: result.truePositive && result.revoked,
      };
      if (outcome.revoked) revoked++;
    }
    const { file, line, column, id } = finding;
    if (invocation.values.json) {
      json.push({ file, line, column, id, name, ...outcome });
    } else {
      const shown = name === null ? '-' : escapeUnshowable(redactKeys(name));
      await printOut(io.stdout, `${escapeUnshowable(file)}:${line}:${column} ${id} ${shown}\n`);
      if (outcome?.revoked) io.stderr.write(`keymint: revoked ${id}\n`);
    }
  }
  if (invocation.values.json) await printJson(io.stdout, json);
  const skipped = [
    skips.large.length && `${skips.large.length} over 10 MiB`,
    skips.binary.length && `${skips.binary.length} binary`,
    skips.unreadable.length && `${skips.unreadable.length} unreadable`,
  ].filter(Boolean);
  const summary =
    `keymint: ${found} key${found === 1 ? '' : 's'} found` +
    (revoke ? `, ${revoked} revoked` : '') +
    (skipped.length ? `; skipped ${skipped.join(', ')}` : '') +
    '.\n';
  io.stderr.write(summary);
  return found > 0 ? EXIT.FOUND : EXIT.OK;
}
