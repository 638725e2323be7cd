// keymint example: an admin page for API keys on plain node:http, keys in a SQLite file.
//
//   npx tsup --silent                                  # build dist/ (the example imports `keymint`)
//   npx keymint create --name admin --role Admin --ttl 1h --db keymint.db
//   node examples/admin/server.mjs --db keymint.db     # then open http://127.0.0.1:3000
//
// Options: --db <file> (env KEYMINT_DB, default ./keymint.db), --port <n> (env PORT, default
// 3000; 0 picks a free port). It listens on 127.0.0.1 only and prints one line once ready:
// `keymint example listening on http://127.0.0.1:PORT`.
//
// The admin signs in with an Admin API key. The key is checked once (POST /session) and then
// dropped: the browser gets an HttpOnly cookie holding a random session id, which this process
// maps to the admin key's id, and every admin request checks again that this key is still valid.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { createKeymint, isKeymintError } from 'keymint';
import { migrate, sqliteAdapter } from 'keymint/adapters/sqlite';
import {
  authenticateRequest,
  createApiKeyRoutes,
  DEFAULT_MAX_BODY_BYTES,
  toNodeListener,
  toResponse,
} from 'keymint/http';
import { openAuditLog } from './audit-log.mjs';

// ---------------------------------------------------------------------------------------------
// Options

const { values: args } = parseArgs({
  options: { db: { type: 'string' }, port: { type: 'string' } },
  strict: true,
});
const dbFile = path.resolve(args.db ?? process.env.KEYMINT_DB ?? 'keymint.db');
const portText = args.port ?? process.env.PORT ?? '3000';
if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65_535) {
  console.error(`--port must be a whole number from 0 to 65535, not ${JSON.stringify(portText)}`);
  process.exit(2);
}
const HOST = '127.0.0.1';
/** What the page sends when its Time to live field is left empty (keymint requires a TTL). */
const DEFAULT_TTL = '30d';
/** A session ends after this long even if its admin key is still valid. */
const SESSION_MS = 8 * 3_600_000;
const COOKIE = 'keymint_session';
/**
 * Each role's permissions (docs/permissions.md); a role also holds the lower roles' ones. The page
 * lets an Admin narrow a key to part of its role's permissions.
 */
const PERMISSIONS = {
  Viewer: ['dashboards:read', 'folders:read'],
  Editor: ['dashboards:write', 'folders:write'],
  Admin: ['users:write'],
};
const SCOPE = 'default';

// ---------------------------------------------------------------------------------------------
// Logging: never anything a request sent

const KEY_SHAPED = /km_[A-Za-z0-9_]+|[A-Za-z0-9_-]{24,}/g;
/** Anything that looks like an API key or a session id, replaced. */
const redact = (text) => text.replace(KEY_SHAPED, '[redacted]');

/**
 * Logs an unexpected error by its name, code and stack frames, never its message: a message may
 * quote what a request sent (an API key pasted with a stray character, say).
 */
function logError(what, error) {
  const label = (value) =>
    typeof value === 'object' && value !== null
      ? [value.name, value.code].filter((part) => typeof part === 'string').join(' ') || 'object'
      : typeof value;
  let line = `${what}: ${label(error)}`;
  if (error?.cause !== undefined) line += ` (cause: ${label(error.cause)})`;
  const frames = typeof error?.stack === 'string' ? error.stack.split('\n') : [];
  const at = frames.filter((frame) => /^\s+at /.test(frame)).map(redact);
  console.error([line, ...at].join('\n'));
}

// ---------------------------------------------------------------------------------------------
// keymint on SQLite

// A new file is made readable by its owner only (0600), as `keymint create` makes it.
try {
  closeSync(openSync(dbFile, 'wx', 0o600));
} catch (error) {
  if (error?.code !== 'EEXIST') throw error;
}
const db = new Database(dbFile);
migrate(db);

// The audit log: every event keymint emits (created, updated, rotated, revoked, deleted...),
// appended to `<db>.audit.jsonl` (audit-log.mjs). Never a key or a hash.
const auditLog = await openAuditLog(`${dbFile}.audit.jsonl`, {
  onError: (error) => logError('audit log write failed', error),
});

/** The server itself, as the actor of its own reads (the session check); never a client. */
const SERVER = Object.freeze({ name: '(server)', role: 'Admin' });

// The actor of every key-management call is the admin key's record (an ApiKey).
const keymint = createKeymint({
  adapter: sqliteAdapter(db),
  authorize: ({ actor }) => actor.role === 'Admin', // only Admin keys manage keys
  actorRole: (actor) => actor.role, // an Admin key may create keys of any role
  onBackgroundError: (error) => logError('keymint background error', error),
  permissions: PERMISSIONS,
  onEvent: (event) => auditLog.record(event),
});

// ---------------------------------------------------------------------------------------------
// Sessions: random id -> admin key id, in this process's memory only

/** @type {Map<string, { keyId: string, endsAt: number }>} */
const sessions = new Map();
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

function cookieValue(request, name) {
  for (const part of (request.headers.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

function sessionIdOf(request) {
  const id = cookieValue(request, COOKIE);
  return id !== null && SESSION_ID.test(id) ? id : null;
}

// Served over HTTPS (for example behind a proxy that terminates TLS), add `; Secure`.
const cookieHeader = (value, maxAge) =>
  `${COOKIE}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}`;

/**
 * The admin key's record for the request's session, or null. Checks the key again every time:
 * revoked, deleted, expired or no longer Admin ends the session.
 */
async function sessionActor(request) {
  const id = sessionIdOf(request);
  const session = id === null ? undefined : sessions.get(id);
  if (!session) return null;
  if (Date.now() >= session.endsAt) {
    sessions.delete(id);
    return null;
  }
  let apiKey;
  try {
    apiKey = await keymint.getApiKey(session.keyId, { actor: SERVER });
  } catch (error) {
    if (isKeymintError(error, 'NOT_FOUND')) {
      sessions.delete(id);
      return null;
    }
    throw error; // STORE_FAILURE: 503, and the session stays
  }
  const expired = apiKey.expiresAt !== null && apiKey.expiresAt.getTime() <= Date.now();
  if (apiKey.revokedAt !== null || expired || apiKey.role !== 'Admin' || apiKey.scope !== SCOPE) {
    sessions.delete(id);
    return null;
  }
  return apiKey;
}

function pruneSessions() {
  const now = Date.now();
  for (const [id, session] of sessions) if (now >= session.endsAt) sessions.delete(id);
}

// ---------------------------------------------------------------------------------------------
// Responses

const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
};
const sendJson = (status, body, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } });
const message = (status, text, headers) => sendJson(status, { message: text }, headers);

const SECURITY_HEADERS = {
  'content-security-policy': [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

function withSecurityHeaders(response) {
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) headers.set(name, value);
  return new Response(response.body, { status: response.status, headers });
}

// ---------------------------------------------------------------------------------------------
// Static files: the page, and the browser build of keymint/ttl with its shared chunks

const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));
const PAGES = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
  '/audit.js': ['audit.js', 'text/javascript; charset=utf-8'],
};
// dist/ttl.js imports its chunks as `./chunk-XXXX.js`: serve it and what it imports, nothing else.
const TTL_FILE = fileURLToPath(import.meta.resolve('keymint/ttl'));
const VENDOR_DIR = path.dirname(TTL_FILE);
const VENDOR_PREFIX = '/vendor/keymint/';
/** `from './x.js'`, `import './x.js'` and `import('./x.js')`: plain file names only. */
const RELATIVE_IMPORT = /\b(?:from|import)\s*\(?\s*['"]\.\/(\w[\w.-]*\.js)['"]/g;

/** The file names of a module and of every module it imports, transitively (read once). */
function moduleFiles(entry) {
  const files = new Set();
  const queue = [entry];
  while (queue.length > 0) {
    const name = queue.pop();
    if (files.has(name)) continue;
    files.add(name);
    const source = readFileSync(path.join(VENDOR_DIR, name), 'utf8');
    for (const [, imported] of source.matchAll(RELATIVE_IMPORT)) queue.push(imported);
  }
  return files;
}
const VENDOR_FILES = moduleFiles(path.basename(TTL_FILE));

async function fileResponse(file, type) {
  let body;
  try {
    body = await readFile(file);
  } catch (error) {
    if (error?.code === 'ENOENT' || error?.code === 'EISDIR') return message(404, 'Not found');
    throw error;
  }
  return new Response(body, { headers: { 'content-type': type, 'cache-control': 'no-cache' } });
}

function staticResponse(pathname) {
  const page = PAGES[pathname];
  if (page) return fileResponse(path.join(PUBLIC_DIR, page[0]), page[1]);
  if (pathname.startsWith(VENDOR_PREFIX)) {
    // Only names in the set: no other file of dist/, and no slash, backslash or encoding.
    const name = pathname.slice(VENDOR_PREFIX.length);
    if (!VENDOR_FILES.has(name)) return message(404, 'Not found');
    return fileResponse(path.join(VENDOR_DIR, name), 'text/javascript; charset=utf-8');
  }
  if (pathname === '/favicon.ico') return new Response(null, { status: 204 });
  return null;
}

// ---------------------------------------------------------------------------------------------
// Routes

const routes = createApiKeyRoutes(keymint, {
  authenticate: sessionActor,
  scopeOf: () => SCOPE,
  onError: (error) => logError('keys API error', error),
});

const isJson = (request) =>
  /^application\/json\s*(;|$)/i.test(request.headers.get('content-type') ?? '');

const tooLarge = () => ({
  error: message(413, `The request body is larger than ${DEFAULT_MAX_BODY_BYTES} bytes`),
});

/** A JSON body of at most 16 KiB (toNodeListener's default limit, which fails the stream). */
async function readSmallJson(request) {
  if (!isJson(request)) return { error: message(415, 'Content-Type must be application/json') };
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > DEFAULT_MAX_BODY_BYTES) return tooLarge();
  let text;
  try {
    text = await request.text();
  } catch (error) {
    if (error?.name === 'BodyTooLargeError') return tooLarge();
    return { error: message(400, 'The request body could not be read') };
  }
  try {
    return { value: JSON.parse(text) };
  } catch {
    return { error: message(400, 'The request body is not valid JSON') };
  }
}

/** What a refused sign-in answers, by verifyKey's reason. No WWW-Authenticate: it is a form. */
const REFUSED = {
  malformed: [401, 'Invalid API key'],
  not_found: [401, 'Invalid API key'],
  expired: [401, 'Expired API key'],
  revoked: [401, 'Revoked API key'],
  rotated: [401, 'Rotated API key'],
  insufficient_role: [403, 'Insufficient role for this API key'],
  rate_limited: [
    429,
    'Too many failed attempts with this API key; try again later',
    { 'retry-after': '60' },
  ],
  busy: [
    503,
    'Too many keys are being checked right now; try again in a moment',
    { 'retry-after': '1' },
  ],
};

async function signIn(request) {
  const body = await readSmallJson(request);
  if (body.error) return body.error;
  // Signing in replaces the session this browser had, whatever the outcome.
  const previous = sessionIdOf(request);
  if (previous !== null) sessions.delete(previous);
  const clear = previous === null ? {} : { 'set-cookie': cookieHeader('', 0) };
  const key = body.value?.key;
  if (typeof key !== 'string' || key.trim() === '') {
    return message(400, 'Enter an API key', clear);
  }
  // verifyKey takes any string: one that is not a key (a stray character pasted with it) is
  // `malformed`. Not `new Headers({ authorization })`, which throws with the key in its message.
  // A store failure throws: app() answers 503.
  const result = await keymint.verifyKey(key.trim(), { role: 'Admin', scope: SCOPE });
  if (!result.valid) {
    const [status, text, headers] = REFUSED[result.reason] ?? REFUSED.malformed;
    return message(status, text, { ...headers, ...clear });
  }
  pruneSessions();
  const id = randomBytes(32).toString('base64url');
  sessions.set(id, { keyId: result.apiKey.id, endsAt: Date.now() + SESSION_MS });
  return sendJson(
    200,
    { name: result.apiKey.name },
    { 'set-cookie': cookieHeader(id, SESSION_MS / 1000) },
  );
}

function signOut(request) {
  const id = sessionIdOf(request);
  if (id !== null) sessions.delete(id);
  return message(200, 'Signed out', { 'set-cookie': cookieHeader('', 0) });
}

async function sessionInfo(request) {
  const actor = await sessionActor(request);
  // 200 either way: the page asks this on load, and a 401 would only be noise in the console.
  if (!actor) return sendJson(200, { signedIn: false });
  return sendJson(200, {
    signedIn: true,
    name: actor.name,
    keyId: actor.id,
    defaultTtl: DEFAULT_TTL,
    maxTtlSeconds: keymint.maxTtlSeconds,
    permissions: keymint.permissions.grants,
  });
}

async function hello(request) {
  const auth = await authenticateRequest(keymint, request, { role: 'Viewer', scope: SCOPE });
  if (!auth.ok) {
    if (auth.cause) logError('key check failed', auth.cause);
    return toResponse(auth);
  }
  return sendJson(200, { hello: auth.apiKey.name, role: auth.apiKey.role });
}

/** A route protected by a permission: 403 for a key without `dashboards:read`. */
async function dashboards(request) {
  const auth = await authenticateRequest(keymint, request, {
    permissions: ['dashboards:read'],
    scope: SCOPE,
  });
  if (!auth.ok) {
    if (auth.cause) logError('key check failed', auth.cause);
    return toResponse(auth);
  }
  return sendJson(200, { dashboards: [], by: auth.apiKey.name });
}

/** The audit log for the signed-in admin, newest first: `?limit=` 1..500 (default 100). */
async function auditEvents(request) {
  if (!(await sessionActor(request))) return message(401, 'Sign in first');
  const limitText = new URL(request.url).searchParams.get('limit') ?? '100';
  if (!/^\d{1,3}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > 500) {
    return message(400, 'limit must be a whole number from 1 to 500');
  }
  return sendJson(200, auditLog.recent(Number(limitText)));
}

function only(method, request, run) {
  if (request.method === method || (method === 'GET' && request.method === 'HEAD')) {
    return run(request);
  }
  return message(405, 'Method not allowed', { allow: method });
}

let allowedHosts = new Set();
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** No Origin header (curl, scripts) passes; a browser's must be this server. */
function sameOrigin(origin) {
  if (origin === null) return true;
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' && allowedHosts.has(url.host);
  } catch {
    return false; // "null" (sandboxed frames, file:) or garbage
  }
}

async function handle(request) {
  const url = new URL(request.url);
  // Loopback names only (DNS rebinding), and no cross-site writes even without the cookie.
  if (!allowedHosts.has(request.headers.get('host') ?? '')) return message(421, 'Unknown host');
  if (UNSAFE.has(request.method) && !sameOrigin(request.headers.get('origin'))) {
    return message(403, 'Cross-origin request refused');
  }
  const { pathname } = url;
  if (pathname === '/api/auth/keys' || pathname.startsWith('/api/auth/keys/')) {
    return routes(request);
  }
  if (pathname === '/api/hello') return only('GET', request, hello);
  if (pathname === '/api/dashboards') return only('GET', request, dashboards);
  if (pathname === '/api/audit') return only('GET', request, auditEvents);
  if (pathname === '/session') {
    if (request.method === 'POST') return signIn(request);
    return only('GET', request, sessionInfo);
  }
  if (pathname === '/session/end') return only('POST', request, signOut);
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return message(405, 'Method not allowed', { allow: 'GET' });
  }
  return (await staticResponse(pathname)) ?? message(404, 'Not found');
}

async function app(request) {
  let response;
  try {
    response = await handle(request);
  } catch (error) {
    logError('request failed', error);
    response = isKeymintError(error, 'STORE_FAILURE')
      ? message(503, 'The key store is unavailable; try again later', { 'retry-after': '5' })
      : message(500, 'Internal server error');
  }
  return withSecurityHeaders(response);
}

// ---------------------------------------------------------------------------------------------
// Start and stop

const server = createServer(
  toNodeListener(app, { onError: (error) => logError('request failed', error) }),
);
server.listen(Number(portText), HOST, () => {
  const { port } = server.address();
  allowedHosts = new Set([`${HOST}:${port}`, `localhost:${port}`]);
  console.log(`keymint example listening on http://${HOST}:${port}`);
});

let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  // Exit even if something hangs; unref'd, so it never delays a clean exit.
  setTimeout(() => {
    console.error(`keymint example: still busy 5 s after ${signal}, exiting`);
    process.exit(1);
  }, 5_000).unref();
  server.close();
  server.closeAllConnections();
  sessions.clear();
  try {
    await keymint.close(); // writes queued last-used times
    await new Promise((resolve) => setImmediate(resolve)); // events of the last operations
    await auditLog.flush();
  } finally {
    db.close();
  }
}
process.once('SIGTERM', () => void stop('SIGTERM'));
process.once('SIGINT', () => void stop('SIGINT'));
