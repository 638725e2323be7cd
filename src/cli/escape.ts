import { INVISIBLE_CHARACTERS } from '../schemas.js';

/**
 * What the command never writes as is: the characters names may not hold (invisible ones,
 * direction controls, odd spaces), line and paragraph separators, and control characters other
 * than tab and line feed (an ESC or a C1 CSI would drive the terminal). A record written before
 * names refused them, a scope or metadata value, or a message quoting an argument may hold one.
 */
const UNSHOWABLE = new RegExp(
  `[${INVISIBLE_CHARACTERS}\\p{Zl}\\p{Zp}\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F]`,
  'gu',
);

/**
 * `text` with each {@link UNSHOWABLE} character written as its JSON escape (`\\u202E`; two for a
 * character beyond U+FFFF): visible in a table, and the same value once JSON is parsed.
 */
export function escapeUnshowable(text: string): string {
  return text.replace(UNSHOWABLE, (character) => {
    let escaped = '';
    for (let i = 0; i < character.length; i++) {
      escaped += `\\u${character.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0')}`;
    }
    return escaped;
  });
}
