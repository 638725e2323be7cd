// Issue 14, finding 7: names and scopes refuse characters that render as nothing, as a space, or
// that move the text around them, and say which one; what is not caught is shown here too.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeCodePoint } from '../src/schemas.js';
import { expectCode, fastKeymint } from './helpers.js';
import { routesFixture } from './http-fixtures.js';

// Each renders as `prod-deploy` (or with a blank), next to the real one.
const LOOKALIKES: [string, string][] = [
  ['prod\u200B-deploy', 'U+200B ZERO WIDTH SPACE'],
  ['prod-\u2060deploy', 'U+2060 WORD JOINER'],
  ['prod\uFEFF-deploy', 'U+FEFF ZERO WIDTH NO-BREAK SPACE'],
  ['prod-deploy\u200D\u200C', 'U+200D ZERO WIDTH JOINER'],
  ['prod-d\u00ADeploy', 'U+00AD SOFT HYPHEN'],
  ['prod-deplo\u034Fy', 'U+034F COMBINING GRAPHEME JOINER'],
  ['prod-deploy\uFE0F', 'U+FE0F VARIATION SELECTOR-16'],
  ['prod-deploy\u{E0100}', 'U+E0100 VARIATION SELECTOR-17'],
  ['prod-deploy\u{E0041}', 'U+E0041'],
  ['prod-\u180Edeploy', 'U+180E MONGOLIAN VOWEL SEPARATOR'],
  ['prod-deploy\u115F', 'U+115F HANGUL CHOSEONG FILLER'],
  ['prod-deploy\u1160', 'U+1160 HANGUL JUNGSEONG FILLER'],
  ['prod-deploy\u3164', 'U+3164 HANGUL FILLER'],
  ['prod-deploy\uFFA0', 'U+FFA0 HALFWIDTH HANGUL FILLER'],
  ['prod-deploy\u2800', 'U+2800 BRAILLE PATTERN BLANK'],
];
// Each reorders what follows it on the line (a `keymint list` row, a log line).
const DIRECTION: [string, string][] = [
  ['ci-\u202Eyolpéd', 'U+202E RIGHT-TO-LEFT OVERRIDE'],
  ['ci-\u202Dx', 'U+202D LEFT-TO-RIGHT OVERRIDE'],
  ['ci-\u202Bx\u202C', 'U+202B RIGHT-TO-LEFT EMBEDDING'],
  ['ci-\u202Ax', 'U+202A LEFT-TO-RIGHT EMBEDDING'],
  ['ci-\u2066x\u2069', 'U+2066 LEFT-TO-RIGHT ISOLATE'],
  ['ci-\u2067x', 'U+2067 RIGHT-TO-LEFT ISOLATE'],
  ['ci-\u2068x', 'U+2068 FIRST STRONG ISOLATE'],
  ['ci-x\u2069', 'U+2069 POP DIRECTIONAL ISOLATE'],
  ['ci-\u200Fx', 'U+200F RIGHT-TO-LEFT MARK'],
  ['ci-\u200Ex', 'U+200E LEFT-TO-RIGHT MARK'],
  ['ci-\u061Cx', 'U+061C ARABIC LETTER MARK'],
];
// Spaces that look like U+0020 in most fonts.
const SPACES: [string, string][] = [
  ['prod\u00A0deploy', 'U+00A0 NO-BREAK SPACE'],
  ['prod\u2003deploy', 'U+2003 EM SPACE'],
  ['prod\u2009deploy', 'U+2009 THIN SPACE'],
  ['prod\u202Fdeploy', 'U+202F NARROW NO-BREAK SPACE'],
  ['prod\u3000deploy', 'U+3000 IDEOGRAPHIC SPACE'],
  ['prod\u1680deploy', 'U+1680 OGHAM SPACE MARK'],
];

describe('names: invisible and direction-changing characters', () => {
  it.each([...LOOKALIKES, ...DIRECTION, ...SPACES])(
    'refuses %j with INVALID_INPUT naming %s, and stores nothing',
    async (name, character) => {
      const { keymint } = fastKeymint();
      await keymint.createApiKey({ name: 'prod-deploy', role: 'Editor', ttl: '1h' });
      const error = await expectCode(
        keymint.createApiKey({ name, role: 'Editor', ttl: '1h' }),
        'INVALID_INPUT',
      );
      expect(error.message).toContain(`name must not contain ${character}:`);
      expect(error.message).not.toContain(name);
      expect((await keymint.listApiKeys()).map((k) => k.name)).toEqual(['prod-deploy']);
    },
  );

  it('refuses any of them wherever it sits in an otherwise good name (property)', async () => {
    const { keymint } = fastKeymint();
    const bad = [...LOOKALIKES, ...DIRECTION, ...SPACES].map(([name, character]) => ({
      char: [...name].find((c) => character.startsWith(describeCodePoint(c.codePointAt(0)!)))!,
      character,
    }));
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: fc.constantFrom(...'abcXYZ-_. é🚀'), minLength: 2, maxLength: 20 }),
        fc.constantFrom(...bad),
        fc.nat(),
        async (good, { char, character }, at) => {
          const position = 1 + (at % (good.length - 1));
          const name = `x${good.slice(0, position)}${char}${good.slice(position)}x`;
          const error = await expectCode(
            keymint.createApiKey({ name, role: 'Viewer', ttl: '1h' }),
            'INVALID_INPUT',
          );
          expect(error.message).toContain(character);
        },
      ),
      { numRuns: 200 },
    );
    expect(await keymint.listApiKeys()).toEqual([]);
  });

  it('accepts what is not caught: other scripts, mixed scripts, emoji without selectors, fullwidth forms', async () => {
    const { keymint } = fastKeymint();
    // Documented in docs/security.md: these are visible, so they are the host's to judge.
    for (const name of [
      'prod-deploy',
      'prоd-deploy', // a Cyrillic о: a confusable that is not caught
      'ｐｒｏｄ-deploy', // fullwidth letters: not folded (no NFKC)
      'Prod-Deploy', // another letter case is another name
      'déploiement prod',
      'פריסה', // right-to-left letters are text, not controls
      'نشر-الإنتاج',
      '本番デプロイ',
      'deploy 🚀',
      'cafe\u0301', // a combining mark, NFC-normalised to café
    ]) {
      await keymint.createApiKey({ name, role: 'Viewer', ttl: '1h' });
    }
    expect((await keymint.listApiKeys()).length).toBe(10);
  });
});

describe('scopes: the same rule', () => {
  it('refuses a scope with one in createApiKey, listApiKeys and verifyKey, naming it', async () => {
    const { keymint } = fastKeymint();
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    for (const [scope, character] of [
      ['org-1\u202E', 'U+202E RIGHT-TO-LEFT OVERRIDE'],
      ['org\u200B-1', 'U+200B ZERO WIDTH SPACE'],
      ['org\u00A01', 'U+00A0 NO-BREAK SPACE'],
    ] as const) {
      for (const call of [
        keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h', scope }),
        keymint.listApiKeys({ scope }),
        keymint.verifyKey(key, { scope }),
      ]) {
        const error = await expectCode(call, 'INVALID_INPUT');
        expect(error.message).toContain(`scope must not contain ${character}:`);
      }
    }
  });
});

describe('over HTTP', () => {
  it('POST /api/auth/keys answers 400 with the message naming the character', async () => {
    const { call } = routesFixture();
    const answer = await call('POST', '/api/auth/keys', {
      json: { name: 'ci-\u202Etxt.exe', role: 'Viewer', ttl: '1h' },
    });
    expect(answer.status).toBe(400);
    expect(answer.body.message).toMatch(/name must not contain U\+202E RIGHT-TO-LEFT OVERRIDE:/);
    expect(answer.text).not.toContain('\u202E');
  });
});
