/**
 * Dates whose setters throw. Records keymint returns are shared (a verify cache entry answers
 * many requests), so their dates must not be changeable in place. The prototype keeps `Date`'s
 * constructor, so `instanceof Date`, deep equality, JSON and `util.inspect` treat them as dates.
 */
const READONLY_DATE: Date = Object.create(Date.prototype);
for (const name of Object.getOwnPropertyNames(Date.prototype)) {
  if (!name.startsWith('set')) continue;
  Object.defineProperty(READONLY_DATE, name, {
    value: function readonly(): never {
      throw new TypeError(`keymint records are read-only: copy the date before calling ${name}().`);
    },
  });
}
Object.freeze(READONLY_DATE);

/** A read-only copy of `date` (`null` stays `null`). */
export function readonlyDate(date: Date): Date;
export function readonlyDate(date: Date | null): Date | null;
export function readonlyDate(date: Date | null): Date | null {
  if (date === null) return null;
  return Object.freeze(Object.setPrototypeOf(new Date(date.getTime()), READONLY_DATE) as Date);
}
