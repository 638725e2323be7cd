import { describe, expect, it } from 'vitest';
import {
  isKeymintError as isKeymintErrorFromErrors,
  KeymintError as KeymintErrorFromErrors,
} from '../src/errors.js';
import {
  isKeymintError,
  KEYMINT_ERROR_CODES,
  KeymintError,
  type KeymintErrorCode,
} from '../src/index.js';

/**
 * Every member of the KeymintErrorCode union, once: the compiler rejects this object if a code
 * is missing from it or if it names a code that is not in the union.
 */
const EVERY_CODE: Record<KeymintErrorCode, true> = {
  CONFIG: true,
  INVALID_TTL: true,
  TTL_TOO_LONG: true,
  INVALID_ROLE: true,
  INVALID_INPUT: true,
  NAME_TAKEN: true,
  NOT_FOUND: true,
  FORBIDDEN: true,
  STORE_FAILURE: true,
  HASHER_FAILURE: true,
  BUSY: true,
  KEYS_LIMIT: true,
  REVOKED: true,
  EXPIRED: true,
  CONFLICT: true,
};

/** An error as a second copy of keymint (the CJS build beside the ESM one) would make it. */
function foreignKeymintError(code: KeymintErrorCode): Error {
  const error = new Error('from another copy of keymint') as Error & { code: KeymintErrorCode };
  error.name = 'KeymintError';
  error.code = code;
  Object.defineProperty(error, Symbol.for('keymint.error'), { value: true });
  return error;
}

describe('KeymintError', () => {
  it("has the name 'KeymintError'", () => {
    expect(new KeymintError('CONFIG', 'bad').name).toBe('KeymintError');
  });

  it('keeps the code it was given', () => {
    expect(new KeymintError('NAME_TAKEN', 'taken').code).toBe('NAME_TAKEN');
  });

  it('keeps the message it was given', () => {
    expect(new KeymintError('NOT_FOUND', 'No key has this id.').message).toBe(
      'No key has this id.',
    );
  });

  it('is an instance of Error', () => {
    expect(new KeymintError('CONFIG', 'bad')).toBeInstanceOf(Error);
  });

  it('is an instance of KeymintError', () => {
    expect(new KeymintError('CONFIG', 'bad')).toBeInstanceOf(KeymintError);
  });

  it('is the same class from the package entry and from keymint/errors', () => {
    expect(KeymintErrorFromErrors).toBe(KeymintError);
    expect(isKeymintErrorFromErrors).toBe(isKeymintError);
  });

  it('passes the cause through unchanged', () => {
    const cause = new TypeError('driver exploded');
    expect(new KeymintError('STORE_FAILURE', 'store failed', { cause }).cause).toBe(cause);
  });

  it('passes a non-Error cause through unchanged', () => {
    const cause = { issues: ['name is required'] };
    expect(new KeymintError('INVALID_INPUT', 'bad input', { cause }).cause).toBe(cause);
  });

  it('has no cause property when none is given', () => {
    expect('cause' in new KeymintError('CONFIG', 'bad')).toBe(false);
  });

  it('has no cause property when the cause given is undefined', () => {
    expect('cause' in new KeymintError('CONFIG', 'bad', { cause: undefined })).toBe(false);
  });

  it('has a stack that starts with its name and message', () => {
    expect(
      new KeymintError('CONFIG', 'bad option').stack?.startsWith('KeymintError: bad option'),
    ).toBe(true);
  });

  it("String(error) reads 'KeymintError: <message>'", () => {
    expect(String(new KeymintError('FORBIDDEN', 'not allowed'))).toBe('KeymintError: not allowed');
  });
});

describe('KeymintError.toJSON()', () => {
  it('gives exactly { name, code, message }', () => {
    expect(new KeymintError('TTL_TOO_LONG', 'too long').toJSON()).toStrictEqual({
      name: 'KeymintError',
      code: 'TTL_TOO_LONG',
      message: 'too long',
    });
  });

  it('is what JSON.stringify writes', () => {
    const error = new KeymintError('NOT_FOUND', 'missing');
    expect(JSON.parse(JSON.stringify(error))).toStrictEqual({
      name: 'KeymintError',
      code: 'NOT_FOUND',
      message: 'missing',
    });
  });

  it('leaves out the stack', () => {
    const json = JSON.stringify(new KeymintError('CONFIG', 'bad'));
    expect(json).not.toContain('stack');
    expect(json).not.toContain('errors.test');
  });

  it('leaves out the cause and everything in it', () => {
    const cause = new Error('postgres://admin:hunter2@db/keys');
    const json = JSON.stringify(new KeymintError('STORE_FAILURE', 'store failed', { cause }));
    expect(json).not.toContain('cause');
    expect(json).not.toContain('hunter2');
  });
});

describe('isKeymintError()', () => {
  it('recognises a KeymintError without a code', () => {
    expect(isKeymintError(new KeymintError('CONFIG', 'bad'))).toBe(true);
  });

  it('recognises a KeymintError with its own code', () => {
    expect(isKeymintError(new KeymintError('NAME_TAKEN', 'taken'), 'NAME_TAKEN')).toBe(true);
  });

  it('refuses a KeymintError with another code', () => {
    expect(isKeymintError(new KeymintError('NAME_TAKEN', 'taken'), 'NOT_FOUND')).toBe(false);
  });

  it.each(Object.keys(EVERY_CODE) as KeymintErrorCode[])(
    'recognises a KeymintError with code %s by that code',
    (code) => {
      expect(isKeymintError(new KeymintError(code, 'x'), code)).toBe(true);
    },
  );

  it('refuses a plain Error', () => {
    expect(isKeymintError(new Error('boom'))).toBe(false);
  });

  it("refuses a plain Error named 'KeymintError' with a code", () => {
    const error = Object.assign(new Error('imitation'), { name: 'KeymintError', code: 'CONFIG' });
    expect(isKeymintError(error, 'CONFIG')).toBe(false);
  });

  it('refuses a plain object shaped like a KeymintError', () => {
    expect(isKeymintError({ name: 'KeymintError', code: 'CONFIG', message: 'x' })).toBe(false);
  });

  it('refuses the JSON form of a KeymintError', () => {
    expect(isKeymintError(new KeymintError('CONFIG', 'x').toJSON())).toBe(false);
  });

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a string', 'KeymintError'],
    ['a number', 0],
    ['a function', () => undefined],
  ])('refuses %s', (_label, value) => {
    expect(isKeymintError(value)).toBe(false);
  });

  it('recognises an error from another copy of keymint, branded with Symbol.for("keymint.error")', () => {
    expect(isKeymintError(foreignKeymintError('CONFIG'))).toBe(true);
  });

  it('recognises an error from another copy of keymint by its code', () => {
    expect(isKeymintError(foreignKeymintError('FORBIDDEN'), 'FORBIDDEN')).toBe(true);
  });

  it('refuses an error from another copy of keymint with another code', () => {
    expect(isKeymintError(foreignKeymintError('FORBIDDEN'), 'NOT_FOUND')).toBe(false);
  });

  it('refuses an object whose brand is truthy but not true', () => {
    const error = Object.assign(new Error('x'), {
      code: 'CONFIG',
      [Symbol.for('keymint.error')]: 'yes',
    });
    expect(isKeymintError(error)).toBe(false);
  });

  it('refuses an object branded with a different symbol of the same description', () => {
    const error = Object.assign(new Error('x'), {
      code: 'CONFIG',
      [Symbol('keymint.error')]: true,
    });
    expect(isKeymintError(error)).toBe(false);
  });

  it('brands its own errors with Symbol.for("keymint.error"), so other copies recognise them', () => {
    const error = new KeymintError('CONFIG', 'x') as unknown as Record<symbol, unknown>;
    expect(error[Symbol.for('keymint.error')]).toBe(true);
  });

  it('recognises a KeymintError subclass', () => {
    class HttpKeymintError extends KeymintError {}
    expect(isKeymintError(new HttpKeymintError('NOT_FOUND', 'x'), 'NOT_FOUND')).toBe(true);
  });
});

describe('KEYMINT_ERROR_CODES', () => {
  it('lists exactly the codes of the KeymintErrorCode union', () => {
    expect([...KEYMINT_ERROR_CODES].sort()).toEqual(Object.keys(EVERY_CODE).sort());
  });

  it('lists each code once', () => {
    expect(new Set(KEYMINT_ERROR_CODES).size).toBe(KEYMINT_ERROR_CODES.length);
  });

  it('is frozen', () => {
    expect(Object.isFrozen(KEYMINT_ERROR_CODES)).toBe(true);
  });

  it('throws when a caller tries to add a code', () => {
    expect(() => (KEYMINT_ERROR_CODES as KeymintErrorCode[]).push('CONFIG')).toThrow(TypeError);
  });

  it('throws when a caller tries to change a code', () => {
    expect(() => {
      (KEYMINT_ERROR_CODES as KeymintErrorCode[])[0] = 'NOT_FOUND';
    }).toThrow(TypeError);
  });
});
