/**
 * Request targets whose path the WHATWG URL parser would route somewhere else than it reads.
 *
 * A proxy or an Express `app.use('/api/auth/keys', guard)` in front matches the target as it
 * arrived; `new URL()` turns `\` into `/` and resolves `.`, `..`, `%2e` and `%2e%2e` segments,
 * so `/x/../api/auth/keys` would reach the key routes past a guard that never saw that path.
 * Encoded slashes and backslashes are kept by the parser but decoded by some proxies and
 * frameworks, so they are refused too, and so is an encoded dot anywhere (`.%2e` is a dot
 * segment). A fragment is never part of a request target (RFC 9112) and the parser drops it.
 * Only the path is checked: the query is not routed on.
 */
const ENCODED_DOT_OR_SLASH = /%(?:2e|2f|5c)/i;

export const BAD_PATH_MESSAGE =
  'Invalid request path: dot segments, backslashes, fragments and encoded dots, slashes or ' +
  'backslashes are refused';

/** `true` when the path of `target` (before any `?`) has a shape the URL parser would change. */
export function isAmbiguousPath(target: string): boolean {
  const query = target.indexOf('?');
  const path = query === -1 ? target : target.slice(0, query);
  if (path.includes('\\') || path.includes('#') || ENCODED_DOT_OR_SLASH.test(path)) return true;
  return path.split('/').some((segment) => segment === '.' || segment === '..');
}
