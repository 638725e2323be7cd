import type { IncomingMessage, ServerResponse } from 'node:http';
import { isKeymintError, KeymintError } from '../errors.js';
import { BodyTooLargeError, checkLimit, isJsonContentType } from './body.js';
import { BAD_PATH_MESSAGE, isAmbiguousPath } from './request-path.js';
import { errorResponse, json } from './responses.js';

/**
 * Options of {@link toNodeListener}.
 *
 * @example
 * ```ts
 * const options: NodeListenerOptions = { maxBodyBytes: 64 * 1024, onError: console.error };
 * ```
 */
export interface NodeListenerOptions {
  /**
   * The most request-body bytes streamed to the handler; past it the body stream fails (the
   * routes of {@link createApiKeyRoutes} answer `413`) and the connection is closed after the
   * answer. Default 16 KiB.
   */
  maxBodyBytes?: number;
  /** Told when the handler throws (the client then gets `500 { message }`) or a write fails. */
  onError?: (error: unknown) => void;
}

/** The request body as a Web stream, read only as fast as the handler reads it. */
function bodyStream(req: IncomingMessage, limit: number, overflow: () => void) {
  let size = 0;
  let done = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      req.on('data', (chunk: Buffer) => {
        if (done) return;
        size += chunk.byteLength;
        if (size > limit) {
          done = true;
          req.pause();
          overflow();
          controller.error(new BodyTooLargeError(limit));
          return;
        }
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 1) <= 0) req.pause();
      });
      req.once('end', () => {
        if (!done) controller.close();
        done = true;
      });
      req.once('error', (error) => {
        if (!done) controller.error(error);
        done = true;
      });
      req.pause();
    },
    pull() {
      if (!done) req.resume();
    },
    cancel() {
      done = true;
      req.pause();
    },
  });
}

/** True when something before the handler (a body parser) has read the body stream to its end. */
function bodyConsumed(req: IncomingMessage): boolean {
  return req.readableEnded || (req.complete && !req.readable);
}

/**
 * The body a parser mounted before the handler left on `req.body`, as bytes again: a Buffer
 * (`express.raw()`), a string (`express.text()`) or, for a JSON request, the parsed value
 * (`express.json()`), serialised back. Anything else cannot be passed on faithfully.
 */
function parsedBody(req: IncomingMessage, headers: Headers): Uint8Array {
  const body = (req as { body?: unknown }).body;
  if (body instanceof Uint8Array) return body;
  if (typeof body === 'string') return new TextEncoder().encode(body);
  if (body !== undefined && isJsonContentType(headers.get('content-type'))) {
    try {
      const text = JSON.stringify(body);
      if (typeof text === 'string') return new TextEncoder().encode(text);
    } catch {
      // not JSON any more (a BigInt, a cycle): the error below says what to do
    }
  }
  const found =
    body === undefined
      ? 'no req.body'
      : `req.body of type ${Array.isArray(body) ? 'array' : typeof body}`;
  throw new KeymintError(
    'CONFIG',
    `toNodeListener(): a body parser mounted before this handler already read the request body ` +
      `(${found}, content type ${JSON.stringify(headers.get('content-type') ?? '')}). Mount the ` +
      `handler before the body parser (app.all('/api/auth/keys{/*id}', toNodeListener(routes)) ` +
      `above app.use(express.json())), or parse it with express.json(), express.text() or ` +
      `express.raw().`,
  );
}

/** A body that is already in memory, under the same limit as a streamed one. */
function bytesStream(bytes: Uint8Array, limit: number) {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (bytes.byteLength > limit) {
        controller.error(new BodyTooLargeError(limit));
        return;
      }
      if (bytes.byteLength > 0) controller.enqueue(new Uint8Array(bytes));
      controller.close();
    },
  });
}

/** The target as it arrived: Express strips the mount path from `req.url`, not `originalUrl`. */
function targetOf(req: IncomingMessage): string {
  return (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
}

function toRequest(req: IncomingMessage, res: ServerResponse, limit: number, overflow: () => void) {
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    if (!name.startsWith(':')) headers.append(name, req.rawHeaders[i + 1]!);
  }
  const secure = (req.socket as { encrypted?: boolean }).encrypted === true;
  const path = targetOf(req);
  let origin: string;
  try {
    origin = new URL(`${secure ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}`).origin;
  } catch {
    origin = 'http://localhost';
  }
  // A target that starts with '/' is a path, even '//evil/api/auth/keys' or '/\evil': resolved
  // against the origin, `new URL(path, origin)` would read those as another host and route the
  // rest (or throw on '//', a 500). Absolute targets ('http://host/path', '*') resolve as before.
  const url = path.startsWith('/') ? new URL(origin + path) : new URL(path, origin);
  const aborted = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) aborted.abort();
  });
  const method = req.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal: aborted.signal };
  if (hasBody && bodyConsumed(req)) {
    // The bytes were decoded (and maybe inflated) by the parser: their old length and encoding
    // no longer apply.
    const bytes = parsedBody(req, headers);
    headers.delete('content-length');
    headers.delete('content-encoding');
    init.body = bytesStream(bytes, limit);
    init.duplex = 'half';
  } else if (hasBody) {
    init.body = bodyStream(req, limit, overflow);
    init.duplex = 'half';
  }
  return new Request(url, init);
}

async function send(response: Response, req: IncomingMessage, res: ServerResponse) {
  res.statusCode = response.status;
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') res.setHeader(name, value);
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  if (response.body === null || req.method === 'HEAD') {
    res.end();
    return;
  }
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    if (res.destroyed) return;
    if (!res.write(chunk)) {
      await new Promise<void>((resolve) => {
        res.once('drain', resolve);
        res.once('close', resolve);
      });
    }
  }
  res.end();
}

/**
 * Mounts a Web-standard handler, such as the one {@link createApiKeyRoutes} returns, in Node's
 * `node:http` server, or in Express as a route handler. It turns each `IncomingMessage` into a
 * `Request` whose body is streamed with a size limit, and writes the `Response` back. A handler
 * that throws gets `500 { message: "Internal server error" }`, without the error.
 *
 * In Express, mount it before any body parser. Behind one, it passes on what the parser left on
 * `req.body`: a Buffer (`express.raw()`), a string (`express.text()`) or, for a JSON request,
 * the parsed value serialised again (`express.json()`). Any other parsed body (a form parsed by
 * `express.urlencoded()`, a stream read by something else) is answered `500` with a message
 * that says to mount the handler before the parser, and reported to `onError` as `CONFIG`.
 *
 * A target whose path the URL parser would read as another path is answered
 * `400 { message }` and never reaches the handler: a dot segment (`/x/../api`, `/./api`,
 * `/%2e/api`), a backslash (`/api\auth`), an encoded dot, slash or backslash (`%2e`, `%2f`,
 * `%5c` in any case) or a fragment. A proxy or an Express `app.use(path, guard)` in front matched
 * the target as written, so the handler must not see a different path. The query is not checked.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createApiKeyRoutes, toNodeListener } from 'keymint/http';
 *
 * const routes = createApiKeyRoutes(keymint, { authenticate });
 * createServer(toNodeListener(routes)).listen(3000, '127.0.0.1');
 *
 * // Express: app.all('/api/auth/keys{/*id}', toNodeListener(routes));
 * ```
 */
export function toNodeListener(
  handler: (request: Request) => Response | Promise<Response>,
  options: NodeListenerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  if (typeof handler !== 'function') {
    throw new KeymintError(
      'CONFIG',
      'toNodeListener() needs a handler: (request: Request) => Response, such as createApiKeyRoutes().',
    );
  }
  const limit = checkLimit(options.maxBodyBytes, 'maxBodyBytes');
  const report = (error: unknown) => {
    try {
      options.onError?.(error);
    } catch {
      // A failing reporter must not crash the server.
    }
  };
  return (req, res) => {
    let overflowed = false;
    const run = async () => {
      let response: Response;
      let request: Request | undefined;
      try {
        // Routed on the target as it arrived: a guard in front matched that, not what
        // `new URL()` would make of it (`/x/../api/auth/keys` is `/api/auth/keys` to the parser).
        if (isAmbiguousPath(targetOf(req))) {
          response = errorResponse(400, BAD_PATH_MESSAGE);
        } else {
          request = toRequest(req, res, limit, () => (overflowed = true));
          response = await handler(request);
        }
      } catch (error) {
        report(error);
        // A set-up mistake of the host (a body parser in the way) is said as it is, to whoever
        // tests the route first; the handler's own errors stay on the server.
        const message =
          request === undefined && isKeymintError(error, 'CONFIG')
            ? error.message
            : 'Internal server error';
        response = json(500, { message });
      }
      // The unread rest of an oversized body is not drained: close the connection instead.
      if (overflowed || response.status === 413) res.setHeader('connection', 'close');
      await send(response, req, res);
    };
    run().catch((error: unknown) => {
      report(error);
      res.destroy();
    });
  };
}
