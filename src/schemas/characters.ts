// Which characters keymint refuses in text that people read (names, scopes, owners): control
// characters, lone surrogates, and the invisible ones, named by code point in the message.
import type { z } from 'zod';

// Cc (C0/C1 controls, DEL) and the line/paragraph separators.
export const CONTROL = /[\p{Cc}\p{Zl}\p{Zp}]/u;
// In a /u pattern a surrogate pair reads as one code point, so this only finds lone halves.
const LONE_SURROGATE = /\p{Cs}/u;
export const wellFormed = (value: string) => !LONE_SURROGATE.test(value);

/**
 * Characters that a terminal, a log line or a web page shows as nothing, as a space, or that move
 * the text around them: every format character (`\p{Cf}`: zero-width characters, U+FEFF,
 * the soft hyphen, the bidirectional marks, embeddings, overrides and isolates, tags), Unicode's
 * default-ignorable code points (Hangul fillers, variation selectors, the combining grapheme
 * joiner, Mongolian free variation selectors...), every space other than U+0020, and U+2800
 * BRAILLE PATTERN BLANK. With any of them, two names that render alike could both exist, and a
 * U+202E would reorder the rest of a `keymint list` line.
 */
export const INVISIBLE_CHARACTERS =
  '\\p{Cf}\\p{Default_Ignorable_Code_Point}\\u00A0\\u1680\\u2000-\\u200A\\u202F\\u205F\\u3000\\u2800';
const INVISIBLE = new RegExp(`[${INVISIBLE_CHARACTERS}]`, 'u');

/** Names of the characters people meet most; the others are named by their code point only. */
const CHARACTER_NAMES: Readonly<Record<number, string>> = {
  0x00a0: 'NO-BREAK SPACE',
  0x00ad: 'SOFT HYPHEN',
  0x034f: 'COMBINING GRAPHEME JOINER',
  0x061c: 'ARABIC LETTER MARK',
  0x115f: 'HANGUL CHOSEONG FILLER',
  0x1160: 'HANGUL JUNGSEONG FILLER',
  0x1680: 'OGHAM SPACE MARK',
  0x180e: 'MONGOLIAN VOWEL SEPARATOR',
  0x2000: 'EN QUAD',
  0x2001: 'EM QUAD',
  0x2002: 'EN SPACE',
  0x2003: 'EM SPACE',
  0x2004: 'THREE-PER-EM SPACE',
  0x2005: 'FOUR-PER-EM SPACE',
  0x2006: 'SIX-PER-EM SPACE',
  0x2007: 'FIGURE SPACE',
  0x2008: 'PUNCTUATION SPACE',
  0x2009: 'THIN SPACE',
  0x200a: 'HAIR SPACE',
  0x200b: 'ZERO WIDTH SPACE',
  0x200c: 'ZERO WIDTH NON-JOINER',
  0x200d: 'ZERO WIDTH JOINER',
  0x200e: 'LEFT-TO-RIGHT MARK',
  0x200f: 'RIGHT-TO-LEFT MARK',
  0x202a: 'LEFT-TO-RIGHT EMBEDDING',
  0x202b: 'RIGHT-TO-LEFT EMBEDDING',
  0x202c: 'POP DIRECTIONAL FORMATTING',
  0x202d: 'LEFT-TO-RIGHT OVERRIDE',
  0x202e: 'RIGHT-TO-LEFT OVERRIDE',
  0x202f: 'NARROW NO-BREAK SPACE',
  0x205f: 'MEDIUM MATHEMATICAL SPACE',
  0x2060: 'WORD JOINER',
  0x2061: 'FUNCTION APPLICATION',
  0x2062: 'INVISIBLE TIMES',
  0x2063: 'INVISIBLE SEPARATOR',
  0x2064: 'INVISIBLE PLUS',
  0x2066: 'LEFT-TO-RIGHT ISOLATE',
  0x2067: 'RIGHT-TO-LEFT ISOLATE',
  0x2068: 'FIRST STRONG ISOLATE',
  0x2069: 'POP DIRECTIONAL ISOLATE',
  0x2800: 'BRAILLE PATTERN BLANK',
  0x3000: 'IDEOGRAPHIC SPACE',
  0x3164: 'HANGUL FILLER',
  0xfeff: 'ZERO WIDTH NO-BREAK SPACE',
  0xffa0: 'HALFWIDTH HANGUL FILLER',
};

/** `U+202E RIGHT-TO-LEFT OVERRIDE`, or `U+E0041` for a character without a name here. */
export function describeCodePoint(codePoint: number): string {
  const hex = `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
  let name = CHARACTER_NAMES[codePoint];
  if (codePoint >= 0xfe00 && codePoint <= 0xfe0f) {
    name = `VARIATION SELECTOR-${codePoint - 0xfe00 + 1}`;
  } else if (codePoint >= 0xe0100 && codePoint <= 0xe01ef) {
    name = `VARIATION SELECTOR-${codePoint - 0xe0100 + 17}`;
  }
  return name === undefined ? hex : `${hex} ${name}`;
}

/**
 * The check for text that people read to tell one thing from another: names and scopes now, the
 * owner of a key later. Refuses the first {@link INVISIBLE_CHARACTERS} character, named by its
 * code point (never the value itself, which may be a key given by mistake).
 */
export function visibleText(field: string) {
  return (value: string, context: z.RefinementCtx) => {
    const found = INVISIBLE.exec(value);
    if (!found) return;
    const character = describeCodePoint(found[0].codePointAt(0)!);
    context.addIssue({
      code: 'custom',
      message:
        `${field} must not contain ${character}: invisible characters, direction controls and ` +
        `spaces other than U+0020 could make one ${field} look like another`,
    });
  };
}
