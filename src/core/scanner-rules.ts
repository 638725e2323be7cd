import { KeymintError } from '../errors.js';
import {
  KEY_CHECKSUM_LENGTH,
  KEY_ID_LENGTH,
  KEY_SECRET_LENGTH,
  PREFIX_PATTERN,
} from './key-format.js';

/**
 * Options of {@link scannerRules}.
 *
 * @example
 * ```ts
 * const options: ScannerRulesOptions = { format: 'gitleaks', prefix: 'acme' };
 * ```
 */
export interface ScannerRulesOptions {
  /** `gitleaks`: a `[[rules]]` TOML entry; `trufflehog`: a custom-detector YAML document. */
  format: 'gitleaks' | 'trufflehog';
  /** The instance's key prefix. Default `'km'`. */
  prefix?: string;
}

/**
 * The least Shannon entropy (bits per character) the rules ask of a match. A generated key
 * (50 characters, 46 of them random base62) scores about 4.9; 3.5 keeps every generated key
 * (test/scanner-rules.test.ts checks 1,000) and drops placeholders such as `km_aaaa…`.
 *
 * @example
 * ```ts
 * import { SCANNER_MIN_ENTROPY } from 'keymint';
 * console.log(`rules drop matches below ${SCANNER_MIN_ENTROPY} bits per character`);
 * ```
 */
export const SCANNER_MIN_ENTROPY = 3.5;

function checkedPrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw new KeymintError(
      'INVALID_INPUT',
      'Invalid prefix: a lower-case letter, then up to 15 lower-case letters or digits (the prefix option of createKeymint).',
    );
  }
  return prefix;
}

/**
 * The regular expression source of a key with this prefix, with the whole key as group 1: only
 * word boundaries and counted classes, no lookaround and no backreference, so Go's RE2 (gitleaks,
 * TruffleHog, GitHub) takes it as it is.
 */
export function scannerRegex(prefix = 'km'): string {
  const p = checkedPrefix(prefix);
  const tail = KEY_SECRET_LENGTH + KEY_CHECKSUM_LENGTH;
  return `\\b(${p}_[0-9A-Za-z]{${KEY_ID_LENGTH}}_[0-9A-Za-z]{${tail}})\\b`;
}

/**
 * Secret-scanner rules for keys with a prefix: a gitleaks `[[rules]]` entry (TOML) or a
 * TruffleHog custom detector (YAML), with the key's regular expression (RE2-safe: no
 * lookarounds), its keyword (`<prefix>_`) and a minimum entropy. The same text
 * `keymint rules --format gitleaks|trufflehog [--prefix P]` prints. A scanner's regex cannot
 * check the key's CRC-32 checksum; `keymint scan` does.
 *
 * @example
 * ```ts
 * import { writeFileSync } from 'node:fs';
 * import { scannerRules } from 'keymint';
 *
 * // Append to .gitleaks.toml (after `[extend] useDefault = true`, say).
 * writeFileSync('keymint.gitleaks.toml', scannerRules({ format: 'gitleaks', prefix: 'km' }));
 * ```
 */
export function scannerRules(options: ScannerRulesOptions): string {
  const format = (options as Partial<ScannerRulesOptions> | undefined)?.format;
  const prefix = checkedPrefix(options?.prefix ?? 'km');
  const regex = scannerRegex(prefix);
  const keyword = `${prefix}_`;
  const id = `keymint-${prefix}-api-key`;
  if (format === 'gitleaks') {
    return (
      '[[rules]]\n' +
      `id = "${id}"\n` +
      `description = "keymint API key (prefix ${prefix})"\n` +
      `regex = '''${regex}'''\n` +
      'secretGroup = 1\n' +
      `entropy = ${SCANNER_MIN_ENTROPY}\n` +
      `keywords = ["${keyword}"]\n` +
      `tags = ["keymint", "api-key"]\n`
    );
  }
  if (format === 'trufflehog') {
    return (
      'detectors:\n' +
      `  - name: ${id}\n` +
      '    keywords:\n' +
      `      - ${keyword}\n` +
      '    regex:\n' +
      `      key: '${regex}'\n` +
      `    entropy: ${SCANNER_MIN_ENTROPY}\n`
    );
  }
  throw new KeymintError('INVALID_INPUT', "Invalid format: expected 'gitleaks' or 'trufflehog'.");
}
