/**
 * Dates whose setters throw. Records keymint returns are shared (a verify cache entry answers
 * many requests), so their dates must not be changeable in place. The prototype keeps `Date`'s
 * constructor, so `instanceof Date`, deep equality, JSON and `util.inspect` treat them as dates.
 * A subclass rather than `Object.setPrototypeOf` on a fresh Date: verification makes several per
 * key read, and a prototype change per object costs V8 more than the Date itself.
 */
class ReadonlyDate extends Date {}
for (const name of Object.getOwnPropertyNames(Date.prototype)) {
  if (!name.startsWith('set')) continue;
  Object.defineProperty(ReadonlyDate.prototype, name, {
    value: function readonly(): never {
      throw new TypeError(`keymint records are read-only: copy the date before calling ${name}().`);
    },
  });
}
Object.defineProperty(ReadonlyDate.prototype, 'constructor', { value: Date });
Object.freeze(ReadonlyDate.prototype);

/** A read-only copy of `date` (`null` stays `null`). */
export function readonlyDate(date: Date): Date;
export function readonlyDate(date: Date | null): Date | null;
export function readonlyDate(date: Date | null): Date | null {
  if (date === null) return null;
  // Already one (every ReadonlyDate is made here, frozen): nothing to copy.
  if (date instanceof ReadonlyDate) return date;
  return Object.freeze(new ReadonlyDate(date.getTime()));
}

/** A read-only date at `ms` (epoch milliseconds): {@link readonlyDate} without the copy. */
export const readonlyDateAt = (ms: number): Date => Object.freeze(new ReadonlyDate(ms));
