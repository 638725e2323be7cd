import { RE2JS } from 're2js';
import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { formatKey, generateKeyId, withChecksum } from '../src/core/key-format.js';
import { isKeymintError, scannerRules, SCANNER_MIN_ENTROPY } from '../src/index.js';

/** Shannon entropy in bits per character, as gitleaks and TruffleHog compute it. */
function entropy(text: string): number {
  const counts = new Map<string, number>();
  for (const char of text) counts.set(char, (counts.get(char) ?? 0) + 1);
  let bits = 0;
  for (const count of counts.values()) {
    const p = count / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

interface GitleaksRule {
  id: string;
  regex: string;
  secretGroup: number;
  entropy: number;
  keywords: string[];
}

interface TrufflehogDetector {
  name: string;
  keywords: string[];
  regex: Record<string, string>;
  entropy: number;
}

function gitleaksRule(prefix?: string): GitleaksRule {
  const text = scannerRules({ format: 'gitleaks', ...(prefix && { prefix }) });
  const parsed = parseToml(text) as unknown as { rules: GitleaksRule[] };
  expect(parsed.rules).toHaveLength(1);
  return parsed.rules[0]!;
}

function trufflehogDetector(prefix?: string): TrufflehogDetector {
  const text = scannerRules({ format: 'trufflehog', ...(prefix && { prefix }) });
  const parsed = parseYaml(text) as { detectors: TrufflehogDetector[] };
  expect(parsed.detectors).toHaveLength(1);
  return parsed.detectors[0]!;
}

/** What a scanner reports for a text: the secret group of each match that passes the entropy. */
function scan(rule: { regex: string; entropy: number; keywords: string[] }, text: string) {
  if (!rule.keywords.some((keyword) => text.toLowerCase().includes(keyword.toLowerCase()))) {
    return [];
  }
  const matcher = RE2JS.compile(rule.regex).matcher(text);
  const found: string[] = [];
  while (matcher.find()) {
    const secret = matcher.group(1)!;
    if (entropy(secret) >= rule.entropy) found.push(secret);
  }
  return found;
}

const newKey = (prefix = 'km') => formatKey(prefix, generateKeyId()).key;

const LOOKAROUND = /\(\?(?:=|!|<=|<!)|\\[1-9]/;

describe.each(['km', 'acme2'])('scannerRules() with prefix %s', (prefix) => {
  const rules = () => {
    const gitleaks = gitleaksRule(prefix === 'km' ? undefined : prefix);
    const detector = trufflehogDetector(prefix === 'km' ? undefined : prefix);
    return [
      { what: 'gitleaks', ...gitleaks },
      { what: 'trufflehog', ...detector, regex: detector.regex.key! },
    ];
  };

  it('gives a gitleaks rule and a TruffleHog detector that real parsers read', () => {
    const gitleaks = gitleaksRule(prefix === 'km' ? undefined : prefix);
    expect(gitleaks.id).toBe(`keymint-${prefix}-api-key`);
    expect(gitleaks.secretGroup).toBe(1);
    expect(gitleaks.keywords).toEqual([`${prefix}_`]);
    expect(gitleaks.entropy).toBe(SCANNER_MIN_ENTROPY);
    const detector = trufflehogDetector(prefix === 'km' ? undefined : prefix);
    expect(detector.name).toBe(`keymint-${prefix}-api-key`);
    expect(detector.keywords).toEqual([`${prefix}_`]);
    expect(Object.keys(detector.regex)).toEqual(['key']);
    expect(detector.regex.key).toBe(gitleaks.regex);
  });

  it('has a regex with no lookaround or backreference, which RE2 compiles', () => {
    for (const rule of rules()) {
      expect(rule.regex).not.toMatch(LOOKAROUND);
      expect(() => RE2JS.compile(rule.regex)).not.toThrow();
      expect(() => new RegExp(rule.regex)).not.toThrow();
    }
  });

  it('finds each of 1,000 generated keys in surrounding text, whole', () => {
    const keys = Array.from({ length: 1_000 }, () => newKey(prefix));
    for (const rule of rules()) {
      for (const [index, key] of keys.entries()) {
        const contexts = [
          key,
          `export TOKEN=${key}\n`,
          `{"apiKey":"${key}"}`,
          `Authorization: Bearer ${key}`,
          `curl -H 'x-api-key: ${key}' https://example.test`,
        ];
        const text = contexts[index % contexts.length]!;
        expect(scan(rule, text), `${rule.what} #${index}`).toEqual([key]);
      }
    }
    expect(Math.min(...keys.map(entropy))).toBeGreaterThanOrEqual(SCANNER_MIN_ENTROPY);
  });

  it('refuses near-misses: other prefixes, lengths, characters, glued words, placeholders', () => {
    const key = newKey(prefix);
    const [, id, tail] = key.slice(prefix.length).split('_') as [string, string, string];
    const nearMisses = [
      `x${key}`, // glued to a word before it: another prefix
      `${key}x`, // one character too long
      `${key}_x`,
      key.slice(0, -1), // one too short
      `${prefix}_${id.slice(1)}_${tail}`, // short id
      `${prefix}_${id}x_${tail}`, // long id
      `${prefix}-${id}_${tail}`, // wrong separator
      `${prefix}_${id}-${tail}`,
      `${prefix}_${id}_${tail.slice(0, 10)}+${tail.slice(11)}`, // a character outside base62
      `${prefix.toUpperCase()}_${id}_${tail}`, // prefixes are lower case
      `zz${prefix}_${id}_${tail}`,
      withChecksum(`${prefix}_${'a'.repeat(12)}_${'a'.repeat(28)}`), // a placeholder (entropy)
      withChecksum(`${prefix}_${'0'.repeat(12)}_${'0123'.repeat(7)}`),
    ];
    for (const rule of rules()) {
      for (const text of nearMisses) expect(scan(rule, text), `${rule.what}: ${text}`).toEqual([]);
    }
  });
});

describe('scannerRules() input', () => {
  it('throws INVALID_INPUT for a bad prefix or format', () => {
    for (const options of [
      { format: 'gitleaks', prefix: 'Km' },
      { format: 'gitleaks', prefix: 'a'.repeat(17) },
      { format: 'gitleaks', prefix: "km'''" },
      { format: 'semgrep' },
      {},
    ]) {
      let error: unknown;
      try {
        scannerRules(options as never);
      } catch (caught) {
        error = caught;
      }
      expect(isKeymintError(error, 'INVALID_INPUT'), JSON.stringify(options)).toBe(true);
    }
  });
});
