import { open, opendir, lstat } from 'node:fs/promises';
import path from 'node:path';
import { checksumCheck, KEY_ID_LENGTH } from '../core/key-format.js';
import { scannerRegex } from '../core/scanner-rules.js';

/** Files larger than this are skipped (generated bundles, dumps): 10 MiB. */
export const SCAN_MAX_FILE_BYTES = 10 * 1024 * 1024;
/** A NUL byte in the first 8 KiB marks a binary file, as git and grep decide. */
const BINARY_SNIFF_BYTES = 8 * 1024;

/** A key-shaped string with a valid checksum, where it was found. Holds the key: never print it. */
export interface Finding {
  file: string;
  line: number;
  column: number;
  id: string;
  key: string;
}

/** What a scan passed over, for the summary on stderr. */
export interface ScanSkips {
  large: string[];
  binary: string[];
  unreadable: string[];
}

/** The findings in one text: line and column count from 1, columns in UTF-16 code units. */
export function findKeys(text: string, prefix: string, file: string): Finding[] {
  const pattern = new RegExp(scannerRegex(prefix), 'g');
  const valid = checksumCheck(prefix);
  const findings: Finding[] = [];
  let line = 1;
  let lineStart = 0;
  let scanned = 0;
  for (const match of text.matchAll(pattern)) {
    const key = match[1]!;
    if (!valid(key)) continue;
    const index = match.index + match[0].indexOf(key);
    for (let i = scanned; i < index; i++) {
      if (text.charCodeAt(i) === 10) {
        line++;
        lineStart = i + 1;
      }
    }
    scanned = index;
    const idStart = prefix.length + 1;
    findings.push({
      file,
      line,
      column: index - lineStart + 1,
      id: key.slice(idStart, idStart + KEY_ID_LENGTH),
      key,
    });
  }
  return findings;
}

async function readSmallText(
  file: string,
  shown: string,
  size: number,
  skips: ScanSkips,
): Promise<string | null> {
  if (size > SCAN_MAX_FILE_BYTES) {
    skips.large.push(shown);
    return null;
  }
  let handle;
  try {
    handle = await open(file, 'r');
    const bytes = await handle.readFile();
    if (bytes.subarray(0, BINARY_SNIFF_BYTES).includes(0)) {
      skips.binary.push(shown);
      return null;
    }
    return bytes.toString('utf8');
  } catch {
    skips.unreadable.push(shown);
    return null;
  } finally {
    await handle?.close();
  }
}

/**
 * Walks files and folders (not `.git`, not symbolic links, no file over
 * {@link SCAN_MAX_FILE_BYTES}, no binary file) and yields the keys of `prefix` whose checksum
 * holds, in path order.
 */
export async function* scanPaths(
  paths: readonly string[],
  prefix: string,
  skips: ScanSkips,
  cwd: string,
): AsyncGenerator<Finding> {
  for (const given of paths) {
    const file = path.resolve(cwd, given);
    let stats;
    try {
      stats = await lstat(file);
    } catch {
      skips.unreadable.push(given);
      continue;
    }
    if (stats.isDirectory()) {
      yield* scanFolder(given, prefix, skips, cwd);
    } else if (stats.isFile()) {
      const text = await readSmallText(file, given, stats.size, skips);
      if (text !== null) yield* findKeys(text, prefix, given);
    }
  }
}

async function* scanFolder(
  folder: string,
  prefix: string,
  skips: ScanSkips,
  cwd: string,
): AsyncGenerator<Finding> {
  let names: string[];
  try {
    const entries = [];
    for await (const entry of await opendir(path.resolve(cwd, folder))) entries.push(entry);
    names = entries
      .filter((entry) => !(entry.isDirectory() && entry.name === '.git'))
      .filter((entry) => entry.isDirectory() || entry.isFile())
      .map((entry) => entry.name)
      .sort();
  } catch {
    skips.unreadable.push(folder);
    return;
  }
  yield* scanPaths(
    names.map((name) => path.join(folder, name)),
    prefix,
    skips,
    cwd,
  );
}
