// The example admin page (examples/admin) end to end: its server as a child process on a SQLite
// file, the page in headless Chromium through playwright-core. The server imports the package by
// name, so it runs dist/ (test/build-dist.ts rebuilds it when stale), and the first admin key is
// minted with the built `keymint` command, as an operator does. Without Chromium these tests are
// skipped locally and fail under CI=true: never a silent skip in CI.
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrate, sqliteAdapter } from '../src/adapters/sqlite/index.js';
import { createKeymint } from '../src/index.js';
import { isKeymintError, parseTtl } from '../src/ttl.js';
import { BAD_PATH_MESSAGE } from '../src/http/request-path.js';
import { ensureDistCurrent } from './build-dist.js';
import { startExampleServer, type ExampleServer } from './fixtures/example-server.js';
import { describeWith, withheld } from './servers.js';

const LEGACY_NAME = 'legacy-\u202Etxt.exe';
const LEGACY_SHOWN = 'legacy-\\u202Etxt.exe';

const CHROMIUM = process.env.KEYMINT_E2E_CHROMIUM ?? '/usr/bin/chromium';
const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const CLI = path.join(DIST, 'cli.js');
const ARTIFACTS = process.env.KEYMINT_E2E_ARTIFACTS ?? path.join(os.tmpdir(), 'keymint-e2e');

/** Skipped without Chromium (describeWith in test/servers.ts), failing under CI. */
function describeWithChromium(title: string, body: () => void): void {
  const missing =
    existsSync(CHROMIUM) && !withheld('chromium')
      ? undefined
      : `none at ${CHROMIUM}: install Debian's chromium or set KEYMINT_E2E_CHROMIUM to a Chromium binary`;
  describeWith({ what: 'Chromium', missing }, title, body);
}

/** What the page.evaluate callbacks use of the browser (tsconfig has no DOM lib). */
interface PageElement {
  id: string;
  value: string;
  textContent: string | null;
  validationMessage: string;
  getAttribute(name: string): string | null;
}
/** `globalThis as unknown as PageGlobals`, written inside each callback (they run in the page). */
interface PageGlobals {
  document: {
    activeElement: PageElement | null;
    cookie: string;
    documentElement: { outerHTML: string };
    getElementById(id: string): PageElement | null;
    querySelectorAll(selectors: string): Iterable<PageElement>;
  };
  location: { href: string };
  localStorage: Storage;
  sessionStorage: Storage;
}
interface Storage {
  readonly length: number;
}
/** keymint's own message for a bad time to live, as the page must show it. */
function ttlMessage(input: string): string {
  try {
    parseTtl(input);
  } catch (error) {
    if (isKeymintError(error)) return error.message;
    throw error;
  }
  throw new Error(`${input} is a valid time to live`);
}

/** A GET with the path sent exactly as given (fetch would normalise `..` away first). */
function rawGet(base: string, rawPath: string): Promise<{ status: number; body: string }> {
  return rawRequest(base, 'GET', rawPath);
}

/** A request as given; a body is sent chunked (no Content-Length), `chunks` at a time. */
function rawRequest(
  base: string,
  method: string,
  rawPath: string,
  headers: Record<string, string> = {},
  chunks: string[] = [],
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path: rawPath, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

/** dist/ttl.js and the files it imports, transitively: all the page's browser build needs. */
function ttlModuleFiles(): Set<string> {
  const files = new Set<string>();
  const queue = ['ttl.js'];
  while (queue.length > 0) {
    const name = queue.pop()!;
    if (files.has(name)) continue;
    files.add(name);
    const source = readFileSync(path.join(DIST, name), 'utf8');
    for (const match of source.matchAll(/\b(?:from|import)\s*\(?\s*['"]\.\/([^'"]+)['"]/g)) {
      queue.push(match[1]!);
    }
  }
  return files;
}

describeWithChromium('the example admin page (examples/admin) in Chromium', () => {
  let dir: string | undefined;
  let server: ExampleServer | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext;
  let page: Page;
  let base: string;
  let adminKey: string;
  let e2eKey: string;
  /** Uncaught errors and CSP refusals in the page: none are expected. */
  const problems: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'keymint-e2e-admin-'));
    const dbFile = path.join(dir, 'keymint.db');
    ensureDistCurrent();
    // The operator's first step: `npx keymint create --name admin --role Admin --ttl 1h`, in the
    // folder where the server then runs (the command's default store is ./keymint.db).
    const minted = spawnSync(
      process.execPath,
      [CLI, 'create', '--name', 'admin', '--role', 'Admin', '--ttl', '1h'],
      { cwd: dir, encoding: 'utf8', env: { ...process.env, KEYMINT_DB: '' } },
    );
    expect(minted.status, minted.stderr).toBe(0);
    adminKey = minted.stdout.trim();
    // More keys on the same file with the same (default argon2id) hasher, through the library.
    const db = new Database(dbFile);
    try {
      migrate(db);
      const keymint = createKeymint({ adapter: sqliteAdapter(db) });
      await keymint.createApiKey({ name: 'nightly-backup', role: 'Viewer', ttl: '7d' });
      await keymint.close();
      // A key that expired an hour ago, made with a clock two hours behind.
      const past = createKeymint({
        adapter: sqliteAdapter(db),
        now: () => new Date(Date.now() - 2 * 3_600_000),
      });
      await past.createApiKey({ name: 'old-import', role: 'Editor', ttl: '1h' });
      await past.close();
      // A name stored before names refused direction controls (issue 14): written by hand.
      const legacy = createKeymint({ adapter: sqliteAdapter(db) });
      await legacy.createApiKey({ name: 'legacy', role: 'Viewer', ttl: '7d' });
      await legacy.close();
      db.prepare('UPDATE keymint_api_keys SET name = ? WHERE name = ?').run(LEGACY_NAME, 'legacy');
    } finally {
      db.close();
    }
    [server, browser] = await Promise.all([
      startExampleServer(['--db', dbFile, '--port', '0'], { cwd: dir }),
      chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
        ],
      }),
    ]);
    base = server.url;
    context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    page = await context.newPage();
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) {
        problems.push(`console: ${message.text()}`);
      }
    });
  }, 60_000); // includes a rebuild of dist/ when it is stale

  afterAll(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const rowOf = (name: string) =>
    page.getByRole('row').filter({ has: page.getByRole('rowheader', { name, exact: true }) });
  const statusOf = (name: string) => rowOf(name).locator('td.key-status').textContent();
  const permissionsOf = (name: string) => rowOf(name).getByRole('cell').nth(1).textContent();
  const activeElement = () =>
    page.evaluate(() => {
      const element = (globalThis as unknown as PageGlobals).document.activeElement;
      return element?.getAttribute('aria-label') ?? element?.id ?? '';
    });
  const hello = async (key: string) => {
    const response = await fetch(`${base}/api/hello`, {
      headers: { authorization: `Bearer ${key}` },
    });
    return { status: response.status, body: (await response.json()) as unknown };
  };

  async function createKey(name: string, role: string, ttl: string): Promise<string> {
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByLabel('Role', { exact: true }).selectOption(role);
    await page.getByLabel('Time to live', { exact: true }).fill(ttl);
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    const shown = page.getByLabel(`API key for ${name}`, { exact: true });
    await shown.waitFor();
    return shown.inputValue();
  }

  const AUDIT_FILE = () => path.join(dir!, 'keymint.db.audit.jsonl');
  /** The audit log section's rows, newest first, by column. */
  const auditRows = () =>
    page
      .getByRole('table', { name: 'Audit log' })
      .locator('tbody tr')
      .evaluateAll((rows) =>
        rows.map((row) => {
          const [, type, keyId, name, by, changes] = [
            ...(row as unknown as { children: Iterable<PageElement> }).children,
          ].map((cell) => cell.textContent ?? '');
          return { type, keyId, name, by, changes };
        }),
      );
  /** The lines of the audit file, oldest first. */
  const auditFileEntries = () =>
    readFileSync(AUDIT_FILE(), 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const keyIdOf = (name: string) =>
    page.evaluate(async (wanted) => {
      const response = await fetch('/api/auth/keys?includeExpired=true');
      const keys = (await response.json()) as { id: string; name: string }[];
      return keys.find((key) => key.name === wanted)?.id;
    }, name);

  async function confirmIn(title: string, button: string): Promise<void> {
    const dialog = page.getByRole('dialog', { name: title });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: button, exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
  }

  it('serves every response with the security headers, API answers uncached', async () => {
    const home = await fetch(`${base}/`);
    expect(home.status).toBe(200);
    const csp = home.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(home.headers.get('x-content-type-options')).toBe('nosniff');
    expect(home.headers.get('referrer-policy')).toBe('no-referrer');

    const keys = await fetch(`${base}/api/auth/keys`);
    expect(keys.status).toBe(401);
    expect(keys.headers.get('cache-control')).toBe('no-store');
    expect(keys.headers.get('content-security-policy')).toBe(csp);

    const ttl = await fetch(`${base}/vendor/keymint/ttl.js`);
    expect(ttl.status).toBe(200);
    expect(ttl.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(ttl.headers.get('content-security-policy')).toBe(csp);
  });

  it('serves only top-level .js files of the vendor folder: no path traversal', async () => {
    // Dot segments, backslashes and encoded dots, slashes or backslashes never reach a route:
    // toNodeListener answers 400 to a target the URL parser would read as another path.
    for (const rawPath of [
      '/vendor/keymint/../package.json',
      '/vendor/keymint/../../package.json',
      '/vendor/../package.json',
      '/vendor/keymint/..%2Fpackage.json',
      '/vendor/keymint/%2e%2e/package.json',
      '/vendor/keymint/%2e%2e%2fpackage.json',
      '/vendor/keymint/..\\package.json',
      '/vendor/keymint/..%5Cpackage.json',
      '/vendor/keymint/%2Fetc%2Fpasswd',
    ]) {
      const answer = await rawGet(base, rawPath);
      expect({ rawPath, ...answer }).toEqual({
        rawPath,
        status: 400,
        body: JSON.stringify({ message: BAD_PATH_MESSAGE }),
      });
    }
    // These reach the vendor route's own check of the file name: empty segments, nested paths,
    // other files, dot files.
    for (const rawPath of [
      '/vendor/keymint//etc/passwd',
      '/vendor/keymint/adapters/sqlite.js',
      '/vendor/keymint/ttl.js.map',
      '/vendor/keymint/ttl.d.ts',
      '/vendor/keymint/.ttl.js',
      '/vendor/keymint/',
      '/package.json',
      '/server.mjs',
    ]) {
      const answer = await rawGet(base, rawPath);
      expect({ rawPath, ...answer }).toEqual({
        rawPath,
        status: 404,
        body: '{"message":"Not found"}',
      });
    }
  });

  it('serves exactly dist/ttl.js and the chunks it imports under /vendor/keymint/', async () => {
    const needed = ttlModuleFiles();
    expect(needed.has('ttl.js')).toBe(true);
    expect([...needed].some((name) => name.startsWith('chunk-'))).toBe(true);
    for (const name of ['cli.js', 'index.js', 'http.js', 'testing.js']) {
      expect(needed.has(name), name).toBe(false);
    }
    const topLevel = readdirSync(DIST).filter((name) => name.endsWith('.js'));
    expect(topLevel).toEqual(expect.arrayContaining(['cli.js', 'index.js', 'ttl.js']));
    for (const name of topLevel) {
      const answer = await rawGet(base, `/vendor/keymint/${name}`);
      if (needed.has(name)) {
        expect({ name, status: answer.status }).toEqual({ name, status: 200 });
        expect(answer.body).toBe(readFileSync(path.join(DIST, name), 'utf8'));
      } else {
        expect({ name, ...answer }).toEqual({ name, status: 404, body: '{"message":"Not found"}' });
      }
    }
  });

  const postSession = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${base}/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });

  it('refuses a pasted key with stray characters with 401, and never logs the key', async () => {
    const secret = adminKey.slice(adminKey.lastIndexOf('_') + 1);
    expect(secret).toHaveLength(34);
    // Characters `new Headers()` rejects: NUL, a line break inside, anything above U+00FF.
    for (const key of [
      `${adminKey}\u0000`,
      `${adminKey}\u200b`,
      `${adminKey}\nx`,
      `\u201c${adminKey}\u201d`,
      `${adminKey.slice(0, 20)}\r\n${adminKey.slice(20)}`,
    ]) {
      const response = await postSession(JSON.stringify({ key }));
      expect({ key, status: response.status, body: await response.json() }).toEqual({
        key,
        status: 401,
        body: { message: 'Invalid API key' },
      });
      expect(response.headers.get('set-cookie')).toBeNull();
      expect(response.headers.get('www-authenticate')).toBeNull();
    }
    // Surrounding white space is still forgiven.
    const padded = await postSession(JSON.stringify({ key: ` ${adminKey}\n` }));
    expect(padded.status).toBe(200);
    const [cookie] = padded.headers.getSetCookie();
    await fetch(`${base}/session/end`, {
      method: 'POST',
      headers: { cookie: cookie!.split(';')[0]! },
    });
    // Give the child's stderr a moment to arrive; the final test checks the whole log again.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server!.output()).not.toContain(secret);
  });

  it('answers 413 to a sign-in body over 16 KiB, with or without Content-Length', async () => {
    const big = JSON.stringify({ key: adminKey, padding: 'x'.repeat(17 * 1024) });
    const declared = await postSession(big);
    expect({ status: declared.status, body: await declared.json() }).toEqual({
      status: 413,
      body: { message: 'The request body is larger than 16384 bytes' },
    });
    expect(declared.headers.get('set-cookie')).toBeNull();

    const chunk = 'x'.repeat(1024);
    const chunked = await rawRequest(
      base,
      'POST',
      '/session',
      { 'content-type': 'application/json' },
      [`{"key":"${adminKey}","padding":"`, ...Array<string>(17).fill(chunk), '"}'],
    );
    expect(chunked).toEqual({
      status: 413,
      body: '{"message":"The request body is larger than 16384 bytes"}',
    });
    // Just under the limit is read as usual.
    const small = await postSession(JSON.stringify({ key: 'not a key', padding: chunk }));
    expect(small.status).toBe(401);
  });

  it('signing in again ends the session of the cookie it was sent with', async () => {
    const sessionCookie = (response: Response) => {
      const [cookie] = response.headers.getSetCookie();
      expect(cookie).toMatch(/^keymint_session=[A-Za-z0-9_-]{43};/);
      return cookie!.split(';')[0]!;
    };
    const keysWith = async (cookie: string) =>
      (await fetch(`${base}/api/auth/keys`, { headers: { cookie } })).status;

    const first = await postSession(JSON.stringify({ key: adminKey }));
    expect(first.status).toBe(200);
    const old = sessionCookie(first);
    expect(await keysWith(old)).toBe(200);

    const second = await postSession(JSON.stringify({ key: adminKey }), { cookie: old });
    expect(second.status).toBe(200);
    const current = sessionCookie(second);
    expect(current).not.toBe(old);
    expect(await keysWith(old)).toBe(401);
    expect(await keysWith(current)).toBe(200);

    // A refused sign-in with a session cookie ends that session too, and clears the cookie.
    const refused = await postSession(JSON.stringify({ key: 'km_wrong' }), { cookie: current });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('set-cookie')).toMatch(/^keymint_session=; .*Max-Age=0/);
    expect(await keysWith(current)).toBe(401);
  });

  it('creates a missing database file readable by its owner only (0600), as the CLI does', async () => {
    const fresh = path.join(dir!, 'fresh', 'keymint.db');
    await mkdir(path.dirname(fresh));
    const other = await startExampleServer(['--db', fresh, '--port', '0'], { cwd: dir! });
    try {
      expect((statSync(fresh).mode & 0o777).toString(8)).toBe('600');
      expect((statSync(`${fresh}.audit.jsonl`).mode & 0o777).toString(8)).toBe('600');
    } finally {
      expect(await other.stop()).toEqual({ code: 0, signal: null });
    }
  });

  it('signs in with an Admin key: an HttpOnly session cookie, nothing the page can read', async () => {
    await page.goto(base);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await expect.poll(activeElement).toBe('admin-key');
    await page.getByLabel('Admin API key', { exact: true }).fill(adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Keys', exact: true }).waitFor();
    await rowOf('admin (you)').waitFor();
    await expect.poll(activeElement).toBe('keys-title');
    await expect.poll(() => page.getByRole('status').textContent()).toBe('Signed in with admin.');
    expect(await page.getByLabel('Admin API key', { exact: true }).inputValue()).toBe('');

    const cookies = await context.cookies();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({
      name: 'keymint_session',
      httpOnly: true,
      sameSite: 'Strict',
      path: '/',
    });
    expect(cookies[0]!.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const visible = await page.evaluate(() => {
      const { document, localStorage, sessionStorage } = globalThis as unknown as PageGlobals;
      return { cookie: document.cookie, stored: localStorage.length + sessionStorage.length };
    });
    expect(visible).toEqual({ cookie: '', stored: 0 });

    expect(await statusOf('admin (you)')).toBe('Active');
    expect(await statusOf('nightly-backup')).toBe('Active');
    expect(await statusOf('old-import')).toBe('Expired');
    // The legacy name's U+202E is shown as its escape: it cannot reorder the row or a sentence.
    expect(await statusOf(LEGACY_SHOWN)).toBe('Active');
    const bodyText = await page.evaluate(
      () => (globalThis as unknown as PageGlobals).document.documentElement.outerHTML,
    );
    expect(bodyText).not.toContain('\u202E');
    await rowOf(LEGACY_SHOWN)
      .getByRole('button', { name: `Revoke ${LEGACY_SHOWN}` })
      .click();
    await confirmIn(`Revoke ${LEGACY_SHOWN}?`, 'Cancel');
  });

  it("checks the time to live as it is typed, with keymint's own message", async () => {
    const ttl = page.getByLabel('Time to live', { exact: true });
    const add = page.getByRole('button', { name: 'Add', exact: true });
    const invalid = ttlMessage('1.5h');
    expect(invalid).toMatch(/^Invalid time to live "1\.5h": /);
    await ttl.pressSequentially('1.5h');
    await page.getByText(invalid, { exact: true }).waitFor();
    expect(await add.isDisabled()).toBe(true);
    const field = await ttl.evaluate((input: PageElement) => {
      const { document } = globalThis as unknown as PageGlobals;
      return {
        validationMessage: input.validationMessage,
        invalid: input.getAttribute('aria-invalid'),
        description: (input.getAttribute('aria-describedby') ?? '')
          .split(' ')
          .map((id) => document.getElementById(id)?.textContent?.trim() ?? '')
          .join(' | '),
      };
    });
    expect(field.validationMessage).toBe(invalid);
    expect(field.invalid).toBe('true');
    expect(field.description).toContain(invalid);

    await ttl.fill('31d');
    await page.getByText(ttlMessage('31d'), { exact: true }).waitFor();
    expect(await add.isDisabled()).toBe(true);

    await ttl.fill('2h');
    await expect.poll(() => add.isDisabled()).toBe(false);
    expect(await page.getByText(invalid, { exact: true }).count()).toBe(0);
    expect(await ttl.getAttribute('aria-invalid')).toBeNull();
  });

  it('creates a key, shows it once, and the key opens the protected route', async () => {
    e2eKey = await createKey('e2e-key', 'Editor', '2h');
    expect(e2eKey).toMatch(/^km_[0-9A-Za-z]{12}_[0-9A-Za-z]{34}$/);
    await expect.poll(activeElement).toBe('created-key');
    await page.getByText('This key will not be shown again.').waitFor();
    expect(await rowOf('e2e-key').getByRole('cell').first().textContent()).toBe('Editor');
    expect(await statusOf('e2e-key')).toBe('Active');

    // Copy: the clipboard where allowed, else the key is selected for Ctrl+C.
    await page.getByRole('button', { name: 'Copy', exact: true }).click();
    await expect
      .poll(() => page.getByRole('status').textContent())
      .toMatch(/^(Key copied to the clipboard\.|Copying is not allowed here)/);

    expect(await hello(e2eKey)).toEqual({
      status: 200,
      body: { hello: 'e2e-key', role: 'Editor' },
    });
    expect(await hello('')).toEqual({ status: 401, body: { message: 'Invalid API key' } });
    // An Editor key does not sign in to the admin page.
    const signIn = await fetch(`${base}/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: e2eKey }),
    });
    expect(signIn.status).toBe(403);
    expect(signIn.headers.get('set-cookie')).toBeNull();

    await page.getByRole('button', { name: 'I have copied it, hide the key' }).click();
    expect(await page.getByLabel('API key for e2e-key', { exact: true }).count()).toBe(0);
    await expect.poll(activeElement).toBe('key-name');
    const everything = await page.evaluate(() => {
      const { document, location, localStorage, sessionStorage } =
        globalThis as unknown as PageGlobals;
      return [
        document.documentElement.outerHTML,
        ...[...document.querySelectorAll('input, textarea')].map((field) => field.value),
        location.href,
        JSON.stringify({ ...localStorage }),
        JSON.stringify({ ...sessionStorage }),
      ].join('\n');
    });
    expect(everything).not.toContain(e2eKey);
    expect(everything).not.toContain(e2eKey.slice(-34));
  });

  it("refuses a taken name with the server's message", async () => {
    await page.getByLabel('Name', { exact: true }).fill('e2e-key');
    await page.getByLabel('Time to live', { exact: true }).fill('1h');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByText('An API key named "e2e-key" already exists', { exact: false }).waitFor();
    await expect.poll(activeElement).toBe('key-name');
    expect(await page.getByLabel('API key for e2e-key', { exact: true }).count()).toBe(0);
  });

  it('revokes a key after confirmation; the key is refused from then on', async () => {
    await rowOf('e2e-key').getByRole('button', { name: 'Revoke e2e-key' }).click();
    await confirmIn('Revoke e2e-key?', 'Cancel');
    await expect.poll(activeElement).toBe('Revoke e2e-key');
    expect(await statusOf('e2e-key')).toBe('Active');
    expect((await hello(e2eKey)).status).toBe(200);

    await rowOf('e2e-key').getByRole('button', { name: 'Revoke e2e-key' }).click();
    await confirmIn('Revoke e2e-key?', 'Revoke key');
    await expect.poll(() => statusOf('e2e-key')).toBe('Revoked');
    expect(await rowOf('e2e-key').getByRole('button', { name: 'Revoke e2e-key' }).count()).toBe(0);
    await expect.poll(activeElement).toBe('Delete e2e-key');
    expect(await hello(e2eKey)).toEqual({ status: 401, body: { message: 'Revoked API key' } });
  });

  it('lists the create and the revoke in the audit log, newest first, with who did them', async () => {
    const id = await keyIdOf('e2e-key');
    const adminId = await keyIdOf('admin');
    await expect
      .poll(async () => (await auditRows()).filter((entry) => entry.name === 'e2e-key'))
      .toMatchObject([
        {
          type: 'key.revoked',
          keyId: id,
          by: 'admin',
          changes: expect.stringMatching(/^revoked /),
        },
        {
          type: 'key.created',
          keyId: id,
          by: 'admin',
          changes: expect.stringMatching(/^role Editor, expires /),
        },
      ]);
    // The same two, appended to <db>.audit.jsonl: the admin key's id and name, never a key.
    const lines = auditFileEntries().filter((entry) => entry.keyId === id);
    expect(lines).toMatchObject([
      { type: 'key.created', name: 'e2e-key', role: 'Editor', actor: { keyId: adminId } },
      { type: 'key.revoked', name: 'e2e-key', actor: { keyId: adminId, name: 'admin' } },
    ]);
    expect(Date.parse(lines[1]!.revokedAt as string)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('creates a key with the default time to live, and deletes it after confirmation', async () => {
    const before = Date.now();
    const viewerKey = await createKey('e2e-viewer', 'Viewer', '');
    await page.getByRole('button', { name: 'I have copied it, hide the key' }).click();
    const listed = (await page.evaluate(async () => {
      const response = await fetch('/api/auth/keys');
      return response.json();
    })) as { name: string; role: string; expiration?: string }[];
    const viewer = listed.find((key) => key.name === 'e2e-viewer');
    expect(viewer?.role).toBe('Viewer');
    const expires = Date.parse(viewer?.expiration ?? '');
    expect(expires - before).toBeGreaterThanOrEqual(30 * 86_400_000 - 1_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(30 * 86_400_000 + 1_000);
    expect((await hello(viewerKey)).status).toBe(200);

    await rowOf('e2e-viewer').getByRole('button', { name: 'Delete e2e-viewer' }).click();
    await confirmIn('Delete e2e-viewer?', 'Delete key');
    await expect.poll(() => rowOf('e2e-viewer').count()).toBe(0);
    await expect.poll(activeElement).toBe('keys-title');
    await expect.poll(() => page.getByRole('status').textContent()).toBe('Deleted e2e-viewer.');
    expect(await hello(viewerKey)).toEqual({ status: 401, body: { message: 'Invalid API key' } });
  });

  it('edits a key: a new name and a lower role, which the key has at once', async () => {
    const key = await createKey('e2e-edit', 'Editor', '2h');
    await page.getByRole('button', { name: 'I have copied it, hide the key' }).click();
    expect(await hello(key)).toEqual({ status: 200, body: { hello: 'e2e-edit', role: 'Editor' } });

    await rowOf('e2e-edit').getByRole('button', { name: 'Edit e2e-edit' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit e2e-edit' });
    await dialog.waitFor();
    await expect.poll(activeElement).toBe('edit-name');
    // A taken name: the server's message, in the dialog, and nothing changes.
    await dialog.getByLabel('New name', { exact: true }).fill('nightly-backup');
    await dialog.getByRole('button', { name: 'Save', exact: true }).click();
    await dialog
      .getByText('An API key named "nightly-backup" already exists', { exact: false })
      .waitFor();
    await dialog.getByLabel('New name', { exact: true }).fill('e2e-edited');
    await dialog.getByLabel('New role', { exact: true }).selectOption('Viewer');
    await dialog.getByRole('button', { name: 'Save', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    await expect.poll(() => rowOf('e2e-edited').count()).toBe(1);
    expect(await rowOf('e2e-edit').count()).toBe(0);
    expect(await rowOf('e2e-edited').getByRole('cell').first().textContent()).toBe('Viewer');
    await expect.poll(activeElement).toBe('Edit e2e-edited');
    // The same secret, the new name and role, at once.
    expect(await hello(key)).toEqual({
      status: 200,
      body: { hello: 'e2e-edited', role: 'Viewer' },
    });
  });

  it("narrows a key to part of its role's permissions, then gives them back in the edit dialog", async () => {
    const dashboards = async (key: string) => {
      const response = await fetch(`${base}/api/dashboards`, {
        headers: { authorization: `Bearer ${key}` },
      });
      return { status: response.status, body: (await response.json()) as unknown };
    };
    const picker = page.locator('#key-permissions');
    await page.getByLabel('Role', { exact: true }).selectOption('Editor');
    // The Editor's own permissions and the Viewer's it inherits, all checked.
    await expect
      .poll(() => picker.getByRole('checkbox').evaluateAll((boxes) => boxes.length))
      .toBe(4);
    await page.getByLabel('Name', { exact: true }).fill('e2e-narrow');
    await page.getByLabel('Time to live', { exact: true }).fill('2h');
    await picker.getByLabel('dashboards:read', { exact: true }).uncheck();
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    const shown = page.getByLabel('API key for e2e-narrow', { exact: true });
    await shown.waitFor();
    const key = await shown.inputValue();
    await page.getByRole('button', { name: 'I have copied it, hide the key' }).click();
    expect(await permissionsOf('e2e-narrow')).toBe('dashboards:write, folders:read, folders:write');
    expect(await dashboards(key)).toEqual({
      status: 403,
      body: { message: 'Insufficient permissions for this API key' },
    });

    await rowOf('e2e-narrow').getByRole('button', { name: 'Edit e2e-narrow' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit e2e-narrow' });
    await dialog.waitFor();
    const read = dialog.getByLabel('dashboards:read', { exact: true });
    expect(await read.isChecked()).toBe(false);
    await read.check();
    await dialog.getByRole('button', { name: 'Save', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    await expect.poll(() => permissionsOf('e2e-narrow')).toBe('All of Editor');
    expect(await dashboards(key)).toEqual({
      status: 200,
      body: { dashboards: [], by: 'e2e-narrow' },
    });
  });

  it('lists an edit in the audit log with each change, from and to', async () => {
    await page.getByRole('button', { name: 'Refresh', exact: true }).click();
    const rows = await auditRows();
    expect(rows.find((entry) => entry.name === 'e2e-edited')).toMatchObject({
      type: 'key.updated',
      by: 'admin',
      changes: 'name: e2e-edit → e2e-edited; role: Editor → Viewer',
    });
    // A deleted key stays in the log.
    expect(rows.find((entry) => entry.name === 'e2e-viewer')?.type).toBe('key.deleted');
  });

  it('rotates a key with a grace period: the new key is shown once, the old one works until the grace ends', async () => {
    const oldKey = await createKey('e2e-rotate', 'Editor', '2h');
    await page.getByRole('button', { name: 'I have copied it, hide the key' }).click();
    await rowOf('e2e-rotate').getByRole('button', { name: 'Rotate e2e-rotate' }).click();
    const dialog = page.getByRole('dialog', { name: 'Rotate e2e-rotate?' });
    await dialog.waitFor();
    const grace = dialog.getByLabel('Grace period for the old key', { exact: true });
    // keymint's own message for a grace period over 7 days, as it is typed.
    await grace.fill('8d');
    await dialog.getByText('the maximum is 7 days', { exact: false }).waitFor();
    expect(await dialog.getByRole('button', { name: 'Rotate key' }).isDisabled()).toBe(true);
    // Short, so that the test sees it end; long enough for a loaded machine to check it first.
    await grace.fill('5s');
    const rotatedAt = Date.now();
    await dialog.getByRole('button', { name: 'Rotate key' }).click();
    await dialog.waitFor({ state: 'hidden' });
    const shownKey = page.getByLabel('API key for e2e-rotate', { exact: true });
    await shownKey.waitFor();
    const newKey = await shownKey.inputValue();
    expect(newKey).toMatch(/^km_[0-9A-Za-z]{12}_[0-9A-Za-z]{34}$/);
    expect(newKey.slice(0, 16)).toBe(oldKey.slice(0, 16)); // the same id
    expect(newKey).not.toBe(oldKey);
    await page.getByText('The old key keeps working until', { exact: false }).waitFor();

    expect(await hello(newKey)).toEqual({
      status: 200,
      body: { hello: 'e2e-rotate', role: 'Editor' },
    });
    const during = await hello(oldKey);
    if (Date.now() - rotatedAt < 4_000) expect(during.status).toBe(200);
    // Refused once the grace period is over: polled, never a fixed sleep.
    await expect
      .poll(async () => (await hello(oldKey)).body, { timeout: 20_000, interval: 250 })
      .toEqual({ message: 'Rotated API key' });
    expect(Date.now() - rotatedAt).toBeGreaterThanOrEqual(4_900);
    expect((await hello(newKey)).status).toBe(200);

    await page.getByRole('button', { name: 'I have copied it, hide the key' }).click();
    const everything = await page.evaluate(
      () => (globalThis as unknown as PageGlobals).document.documentElement.outerHTML,
    );
    expect(everything).not.toContain(newKey);
    expect(await statusOf('e2e-rotate')).toBe('Active');
  });

  it('saves a screenshot of the admin page', async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, 'admin-page.png');
    await page.screenshot({ path: file, fullPage: true });
    console.log(`admin page screenshot: ${file}`);
    expect(existsSync(file)).toBe(true);
    expect(problems).toEqual([]);
  });

  it('signs out; and revoking its own admin key ends the session', async () => {
    const [cookie] = await context.cookies();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await context.cookies()).toEqual([]);
    const stale = await fetch(`${base}/api/auth/keys`, {
      headers: { cookie: `${cookie!.name}=${cookie!.value}` },
    });
    expect(stale.status).toBe(401);

    await page.getByLabel('Admin API key', { exact: true }).fill(adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await rowOf('admin (you)').getByRole('button', { name: 'Revoke admin' }).click();
    await confirmIn('Revoke admin?', 'Revoke key');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await expect
      .poll(() => page.getByRole('status').textContent())
      .toBe('Your session has ended: its admin key is no longer valid. Sign in again.');
    await expect.poll(activeElement).toBe('admin-key');

    await page.getByLabel('Admin API key', { exact: true }).fill(adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Revoked API key', { exact: true }).waitFor();
    expect(problems).toEqual([]);
  });

  it('stops cleanly on SIGTERM, and its log never held an API key', async () => {
    expect(await server!.stop()).toEqual({ code: 0, signal: null });
    const log = server!.output();
    expect(log).toMatch(/^keymint example listening on /);
    for (const key of [adminKey, e2eKey]) {
      expect(log).not.toContain(key.slice(key.lastIndexOf('_') + 1));
    }
    expect(log).not.toMatch(/km_[0-9A-Za-z]{12}_/);
  });

  it('appended every event of the run to <db>.audit.jsonl, one JSON line each, never a key', () => {
    const text = readFileSync(AUDIT_FILE(), 'utf8');
    expect(text).not.toMatch(/km_[0-9A-Za-z]{12}_/);
    expect(text).not.toMatch(/hash/i); // (previousSecretExpiresAt is a date)
    for (const key of [adminKey, e2eKey]) expect(text).not.toContain(key.slice(-34));
    const entries = auditFileEntries();
    expect(new Set(entries.map((entry) => entry.type))).toEqual(
      new Set(['key.created', 'key.revoked', 'key.deleted', 'key.updated', 'key.rotated']),
    );
    for (const entry of entries) {
      expect(Object.keys(entry)).toEqual(expect.arrayContaining(['type', 'at', 'keyId', 'name']));
      expect(entry.actor).toMatchObject({ name: 'admin' });
    }
    // The admin revoked its own key last: the final line.
    expect(entries.at(-1)).toMatchObject({ type: 'key.revoked', name: 'admin' });
  });
});
