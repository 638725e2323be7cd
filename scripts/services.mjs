#!/usr/bin/env node
// Throwaway PostgreSQL, Redis and MariaDB servers on 127.0.0.1 for the tests: each in its own temp
// dir, on a free port, without durability (fsync off, no RDB/AOF, no binlog, no flush at commit),
// removed again by stop(). MariaDB (or MySQL's mysqld) is optional: without its binaries the
// commands below start the other two, and the MySQL tests are skipped (failing under CI=true).
//
//   node scripts/services.mjs                      start them, print `export KEYMINT_TEST_*_URL=...`
//                                                  lines, stay up until SIGINT/SIGTERM
//   node scripts/services.mjs run -- <command...>  start them, run the command with the URLs in its
//                                                  environment, stop them, exit with its exit code
//   node scripts/services.mjs check                which binaries are found (exit 1 if one is not)
//
// test/global-setup.ts uses startPostgres(), startRedis() and startMysql() from here. Only node: builtins, so
// that it also runs before `npm ci`. PostgreSQL refuses to run as root: as root, initdb and pg_ctl
// run as the `postgres` system user (created by Debian's postgresql package) via runuser.
import { execFileSync, spawn } from 'node:child_process';
import {
  accessSync,
  constants as fsConstants,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withheld } from './test-env.mjs';

const HOST = '127.0.0.1';
const PG_USER = 'keymint';
const PG_DATABASE = 'postgres';
const STARTUP_TIMEOUT_S = 30;
const PORT_ATTEMPTS = 3;

export const ENV = {
  postgres: 'KEYMINT_TEST_POSTGRES_URL',
  redis: 'KEYMINT_TEST_REDIS_URL',
  mysql: 'KEYMINT_TEST_MYSQL_URL',
};

// ---------------------------------------------------------------------------------------------
// Finding the binaries

function isExecutableFile(file) {
  try {
    accessSync(file, fsConstants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Full path of `name` on PATH (then in `extraDirs`), or undefined. */
export function findExecutable(name, extraDirs = []) {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const file = path.join(dir, name);
    if (isExecutableFile(file)) return file;
  }
  return undefined;
}

const PG_TOOLS = ['initdb', 'pg_ctl', 'postgres'];

function hasPgTools(dir) {
  return PG_TOOLS.every((tool) => isExecutableFile(path.join(dir, tool)));
}

/**
 * The directory with initdb, pg_ctl and postgres: pg_ctl's (symlinks resolved) when it is on PATH,
 * else the highest-versioned /usr/lib/postgresql/<version>/bin (Debian does not put them on PATH).
 */
export function findPostgresBinDir() {
  const onPath = findExecutable('pg_ctl');
  if (onPath) {
    const dir = path.dirname(realpathSync(onPath));
    if (hasPgTools(dir)) return dir;
  }
  const root = '/usr/lib/postgresql';
  let versions = [];
  try {
    versions = readdirSync(root).filter((name) => /^\d+(\.\d+)?$/.test(name));
  } catch {
    return undefined;
  }
  versions.sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  for (const version of versions) {
    const dir = path.join(root, version, 'bin');
    if (hasPgTools(dir)) return dir;
  }
  return undefined;
}

export function findRedisServer() {
  return findExecutable('redis-server');
}

/** True when startPostgres() can find its binaries (and KEYMINT_TEST_WITHOUT does not name it). */
export function hasPostgres() {
  return !withheld('postgres') && findPostgresBinDir() !== undefined;
}

/** True when startRedis() can find its binary (and KEYMINT_TEST_WITHOUT does not name it). */
export function hasRedis() {
  return !withheld('redis') && findRedisServer() !== undefined;
}

const SBIN = ['/usr/sbin', '/sbin', '/usr/local/sbin', '/usr/local/mysql/bin'];

/** mariadbd (or mysqld) and mariadb-install-db (or mysql_install_db), or undefined. */
export function findMysqlBinaries() {
  const server = findExecutable('mariadbd', SBIN) ?? findExecutable('mysqld', SBIN);
  const install =
    findExecutable('mariadb-install-db', SBIN) ?? findExecutable('mysql_install_db', SBIN);
  return server && install ? { server, install } : undefined;
}

/** True when startMysql() can find its binaries (and KEYMINT_TEST_WITHOUT does not name it). */
export function hasMysql() {
  return !withheld('mysql') && findMysqlBinaries() !== undefined;
}

export class MissingBinaryError extends Error {
  constructor(what, debianPackage) {
    super(
      `${what} not found. Install it (Debian/Ubuntu: apt-get install ${debianPackage}), ` +
        `or point the tests at a running server with ${{ postgresql: ENV.postgres, 'redis-server': ENV.redis }[debianPackage] ?? ENV.mysql}.`,
    );
    this.name = 'MissingBinaryError';
    this.code = 'ENOBIN';
    this.debianPackage = debianPackage;
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

// Commands still running (initdb, pg_ctl, redis-server before it daemonizes), each in its own
// process group: the exit hook kills them, so that none goes on writing into a removed temp dir.
const inflight = new Set();

/** Runs a command to completion; rejects with its output in the message. */
function run(file, args, { cwd, timeoutMs = 60_000, label = path.basename(file) } = {}) {
  return new Promise((resolve, reject) => {
    // detached: own process group (execFile would drop this option).
    const child = spawn(file, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    inflight.add(child);
    let output = '';
    const collect = (chunk) => {
      if (output.length < 1_000_000) output += chunk.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killQuietly(-child.pid, 'SIGKILL');
    }, timeoutMs);
    const finish = (status) => {
      clearTimeout(timer);
      inflight.delete(child);
      if (status === undefined) return resolve(output);
      const text = output.trim();
      const error = new Error(`${label} ${status}${text ? `:\n${indent(text)}` : ''}`);
      error.output = text;
      reject(error);
    };
    child.once('error', (error) => finish(`could not run: ${error.message}`));
    child.once('close', (code, signal) => {
      if (timedOut) finish(`timed out after ${timeoutMs / 1000}s`);
      else if (code === 0) finish(undefined);
      else finish(`exited with ${code ?? signal}`);
    });
  });
}

function indent(text) {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

async function logTail(file, lines = 25) {
  try {
    const text = (await readFile(file, 'utf8')).trimEnd();
    if (!text) return `(${file} is empty)`;
    return `last lines of ${file}:\n${indent(text.split('\n').slice(-lines).join('\n'))}`;
  } catch {
    return `(no log at ${file})`;
  }
}

/** A port that was free on 127.0.0.1 a moment ago (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function isAlive(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return error.code === 'EPERM';
  }
  // A daemon that has exited stays a zombie until PID 1 reaps it, which some container inits do
  // only now and then: count it as gone.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

async function waitForExit(pid, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

/**
 * Asks a server to stop, then signals it (and finally SIGKILLs it) if it has not exited in time,
 * and always removes its temp dir.
 */
async function stopServer({ pid, ask, signal, removeDir }) {
  try {
    if (pid === undefined || isAlive(pid)) {
      await ask().catch(() => {});
      if (!(await waitForExit(pid, 5_000))) {
        killQuietly(pid, signal);
        if (!(await waitForExit(pid, 2_000))) killQuietly(pid, 'SIGKILL');
        await waitForExit(pid, 2_000);
      }
    }
  } finally {
    await removeDir();
  }
}

function killQuietly(pid, signal) {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

async function readPid(file) {
  try {
    const pid = Number.parseInt((await readFile(file, 'utf8')).split('\n')[0] ?? '', 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function readPidSync(file) {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').split('\n')[0] ?? '', 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

// Servers (from their temp dir's creation on) not stopped yet. If the process exits without stop()
// (an uncaught error, process.exit() during a test run or a startup), they are killed and their
// temp dirs removed synchronously, so that none is left behind.
const live = new Set();
let exitHookInstalled = false;

/**
 * Registers a temp dir (from its creation on) and the server whose pid file will be in it, to be
 * killed with `signal`; forget() once stopped and removed.
 */
function track(dir) {
  const entry = {
    pid: undefined,
    pidFile: undefined,
    signal: 'SIGKILL',
    killSync() {
      const pid = (entry.pidFile && readPidSync(entry.pidFile)) || entry.pid;
      if (pid) killQuietly(pid, entry.signal);
      rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
      live.delete(entry);
    },
    forget() {
      live.delete(entry);
    },
  };
  live.add(entry);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const child of inflight) killQuietly(-child.pid, 'SIGKILL');
      for (const entry of live) {
        try {
          entry.killSync();
        } catch {
          // best effort
        }
      }
    });
  }
  return entry;
}

/** A fresh temp dir; as root, owned by `owner` and checked to be reachable by it. */
async function makeTempDir(prefix, owner) {
  const bases = [os.tmpdir()];
  if (owner && bases[0] !== '/tmp') bases.push('/tmp');
  let lastError;
  for (const base of bases) {
    const dir = await mkdtemp(path.join(base, prefix));
    const cleanup = track(dir);
    if (!owner) return { dir, cleanup };
    try {
      await chown(dir, owner.uid, owner.gid);
      // The postgres user must reach the dir through its parents (TMPDIR may be under /root).
      await run(owner.runuser, ['-u', owner.name, '--', 'test', '-w', dir, '-a', '-x', dir], {
        cwd: '/',
      });
      return { dir, cleanup };
    } catch (error) {
      lastError = error;
      await rm(dir, { recursive: true, force: true });
      cleanup.forget();
    }
  }
  throw new Error(
    `The ${owner.name} user cannot use a temp dir under ${bases.join(' or ')}: ${lastError?.message}`,
  );
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

function postgresOwner() {
  if (!isRoot()) return undefined;
  const runuser = findExecutable('runuser', ['/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  if (!runuser) {
    throw new Error(
      'PostgreSQL refuses to run as root, and runuser (util-linux) is missing to run it as the postgres user.',
    );
  }
  let uid;
  let gid;
  try {
    uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  } catch {
    throw new Error(
      'PostgreSQL refuses to run as root, and there is no `postgres` system user to run it as ' +
        '(Debian/Ubuntu: apt-get install postgresql creates it; or run the tests as a normal user).',
    );
  }
  return { name: 'postgres', uid, gid, runuser };
}

/**
 * Starts a throwaway PostgreSQL server on 127.0.0.1 (trust auth, user `keymint`, UTF8, C locale,
 * fsync off). Resolves once it accepts connections.
 *
 * @param {{ port?: number }} [options] a fixed port; by default a free one is picked
 * @returns {Promise<{ kind: 'postgres', url: string, host: string, port: number, user: string,
 *   database: string, pid: number | undefined, dir: string, dataDir: string, socketDir: string,
 *   logFile: string, stop: () => Promise<void> }>}
 */
export async function startPostgres({ port: fixedPort } = {}) {
  const binDir = findPostgresBinDir();
  if (!binDir) {
    throw new MissingBinaryError(
      'PostgreSQL server binaries (initdb, pg_ctl, postgres; looked on PATH and in /usr/lib/postgresql/*/bin)',
      'postgresql',
    );
  }
  const owner = postgresOwner();
  const { dir, cleanup } = await makeTempDir('keymint-pg-', owner);
  const dataDir = path.join(dir, 'data');
  const socketDir = path.join(dir, 'sock');
  const logFile = path.join(dir, 'postgres.log');
  const pidFile = path.join(dataDir, 'postmaster.pid');
  cleanup.pidFile = pidFile;
  cleanup.signal = 'SIGQUIT'; // immediate shutdown
  const pgCtl = path.join(binDir, 'pg_ctl');
  // As root: runuser -u postgres -- <tool> ...; cwd is the temp dir, which that user can read.
  const pg = (tool, args, options = {}) =>
    owner
      ? run(owner.runuser, ['-u', owner.name, '--', tool, ...args], {
          cwd: dir,
          label: `${path.basename(tool)} (as ${owner.name})`,
          ...options,
        })
      : run(tool, args, { cwd: dir, ...options });
  const removeDir = async () => {
    cleanup.forget();
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };

  let port;
  try {
    await mkdir(socketDir, { mode: 0o700 });
    if (owner) await chown(socketDir, owner.uid, owner.gid);
    // prettier-ignore
    await pg(path.join(binDir, 'initdb'), [
      '-D', dataDir, '-A', 'trust', '-U', PG_USER, '-E', 'UTF8', '--locale=C', '--no-sync',
    ]).catch((error) => {
      throw new Error(`PostgreSQL initdb failed (${binDir}): ${error.message}`);
    });

    for (let attempt = 1; ; attempt++) {
      port = fixedPort ?? (await freePort());
      const serverOptions = [
        `-p ${port}`,
        `-k '${socketDir}'`,
        `-h ${HOST}`,
        '-c fsync=off',
        '-c synchronous_commit=off',
        '-c full_page_writes=off',
        '-c max_connections=200',
      ].join(' ');
      try {
        // prettier-ignore
        await pg(pgCtl, [
          '-D', dataDir, '-l', logFile, '-w', '-t', String(STARTUP_TIMEOUT_S), '-o', serverOptions, 'start',
        ], { timeoutMs: (STARTUP_TIMEOUT_S + 10) * 1000 });
        break;
      } catch (error) {
        const tail = await logTail(logFile);
        await pg(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => {});
        const portTaken = /could not (bind|create listen socket)|address already in use/i.test(
          tail,
        );
        if (portTaken && fixedPort === undefined && attempt < PORT_ATTEMPTS) continue;
        throw new Error(`PostgreSQL did not start on ${HOST}:${port}: ${error.message}\n${tail}`);
      }
    }
  } catch (error) {
    await removeDir();
    throw error;
  }

  const pid = await readPid(pidFile);
  cleanup.pid = pid;
  let stopping;
  const server = {
    kind: 'postgres',
    url: `postgres://${PG_USER}@${HOST}:${port}/${PG_DATABASE}`,
    host: HOST,
    port,
    user: PG_USER,
    database: PG_DATABASE,
    pid,
    dir,
    dataDir,
    socketDir,
    logFile,
    binDir,
    /** Stops the server (fast shutdown) and removes its temp dir. Safe to call more than once. */
    stop() {
      stopping ??= stopServer({
        pid,
        ask: () => pg(pgCtl, ['-D', dataDir, '-m', 'fast', '-w', '-t', '30', 'stop']),
        signal: 'SIGQUIT',
        removeDir,
      });
      return stopping;
    },
  };
  return server;
}

// ---------------------------------------------------------------------------------------------
// Redis

/** Sends one inline command over a fresh connection; resolves with the first reply line. */
export function redisCommand(port, command, { host = HOST, timeoutMs = 1_000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let buffer = '';
    const done = (error, value) => {
      socket.destroy();
      if (error) reject(error);
      else resolve(value);
    };
    socket.setTimeout(timeoutMs, () =>
      done(new Error(`no reply to ${command} within ${timeoutMs}ms`)),
    );
    socket.once('error', (error) => done(error));
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      const end = buffer.indexOf('\r\n');
      if (end !== -1) done(undefined, buffer.slice(0, end));
    });
    // SHUTDOWN closes the connection without a reply.
    socket.once('end', () => done(undefined, buffer));
    socket.once('connect', () => socket.write(`${command}\r\n`));
  });
}

/** True when a Redis server on 127.0.0.1:port answers PING. */
export async function redisPing(port, options) {
  try {
    return (await redisCommand(port, 'PING', options)) === '+PONG';
  } catch {
    return false;
  }
}

/**
 * Starts a throwaway Redis server on 127.0.0.1 (no persistence). Resolves once it answers PING.
 *
 * @param {{ port?: number }} [options] a fixed port; by default a free one is picked
 * @returns {Promise<{ kind: 'redis', url: string, host: string, port: number,
 *   pid: number | undefined, dir: string, logFile: string, stop: () => Promise<void> }>}
 */
export async function startRedis({ port: fixedPort } = {}) {
  const redisServer = findRedisServer();
  if (!redisServer) throw new MissingBinaryError('redis-server (on PATH)', 'redis-server');
  const { dir, cleanup } = await makeTempDir('keymint-redis-');
  const pidFile = path.join(dir, 'redis.pid');
  const logFile = path.join(dir, 'redis.log');
  cleanup.pidFile = pidFile;
  const removeDir = async () => {
    cleanup.forget();
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };

  let port;
  let pid;
  try {
    for (let attempt = 1; ; attempt++) {
      port = fixedPort ?? (await freePort());
      // prettier-ignore
      await run(redisServer, [
        '--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no',
        '--daemonize', 'yes', '--pidfile', pidFile, '--dir', dir, '--logfile', logFile,
      ], { cwd: dir }).catch((error) => {
        throw new Error(`redis-server did not start: ${error.message}`);
      });
      const deadline = Date.now() + STARTUP_TIMEOUT_S * 1000;
      let failure;
      for (;;) {
        if (await redisPing(port, { timeoutMs: 500 })) break;
        pid ??= await readPid(pidFile);
        const log = await readFile(logFile, 'utf8').catch(() => '');
        if (/Could not create server TCP listening socket|Address already in use/i.test(log)) {
          failure = 'port';
          break;
        }
        if (pid && !isAlive(pid)) {
          failure = 'died';
          break;
        }
        if (Date.now() > deadline) {
          failure = 'timeout';
          break;
        }
        await sleep(20);
      }
      if (!failure) break;
      pid ??= await readPid(pidFile);
      if (pid) killQuietly(pid, 'SIGKILL');
      const tail = await logTail(logFile);
      if (failure === 'port' && fixedPort === undefined && attempt < PORT_ATTEMPTS) {
        await waitForExit(pid, 2_000);
        pid = undefined;
        await rm(logFile, { force: true });
        await rm(pidFile, { force: true });
        continue;
      }
      const reason =
        failure === 'timeout' ? `did not answer PING within ${STARTUP_TIMEOUT_S}s` : 'exited';
      throw new Error(`redis-server on ${HOST}:${port} ${reason}.\n${tail}`);
    }
    pid ??= await readPid(pidFile);
    cleanup.pid = pid;
  } catch (error) {
    await removeDir();
    throw error;
  }

  let stopping;
  const server = {
    kind: 'redis',
    url: `redis://${HOST}:${port}`,
    host: HOST,
    port,
    pid,
    dir,
    logFile,
    /** Stops the server (SHUTDOWN NOSAVE) and removes its temp dir. Safe to call more than once. */
    stop() {
      stopping ??= stopServer({
        pid,
        ask: () => redisCommand(port, 'SHUTDOWN NOSAVE'),
        signal: 'SIGTERM',
        removeDir,
      });
      return stopping;
    },
  };
  return server;
}

// ---------------------------------------------------------------------------------------------
// MariaDB (or MySQL)

const MYSQL_USER = 'keymint';
const MYSQL_DATABASE = 'keymint';
/**
 * The throwaway server's time zone: deliberately not UTC (and with a half-hour offset), so that
 * every test that stores a timestamp runs where a time-zone mistake would show.
 */
export const MYSQL_TIME_ZONE = '+05:30';

/**
 * Resolves true when a MySQL server on 127.0.0.1:port sends its greeting (protocol 10), false when
 * it refuses (an error packet, a closed or refused connection, or no answer within `timeoutMs`).
 */
export function mysqlGreets(port, { host = HOST, timeoutMs = 1_000 } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let buffer = Buffer.alloc(0);
    const done = (value) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('end', () => done(false));
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      // 3 bytes of length, 1 of sequence, then the payload: 10 is the handshake, 0xff an error.
      if (buffer.length >= 5) done(buffer[4] === 10);
    });
  });
}

/**
 * The options every start of a throwaway server uses (also a restart with the same data dir):
 * loopback TCP on `port`, the socket and logs in `dir`, no durability, utf8mb4 with a collation
 * that is not binary (so that the adapter's own collations are what makes names compare by code
 * point) and a time zone that is not UTC. `extra` adds or overrides options.
 */
export function mysqlServerArgs({ dataDir, dir, port }, extra = []) {
  return [
    '--no-defaults',
    `--datadir=${dataDir}`,
    `--port=${port}`,
    `--bind-address=${HOST}`,
    '--skip-networking=0',
    `--socket=${path.join(dir, 'mysqld.sock')}`,
    `--pid-file=${path.join(dir, 'mysqld.pid')}`,
    `--log-error=${path.join(dir, 'mysqld.log')}`,
    '--skip-name-resolve',
    '--skip-log-bin',
    '--innodb-flush-log-at-trx-commit=0',
    '--innodb-doublewrite=0',
    '--innodb-buffer-pool-size=64M',
    '--innodb-log-file-size=32M',
    '--max-connections=300',
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_unicode_ci',
    `--default-time-zone=${MYSQL_TIME_ZONE}`,
    // mariadbd runs as root only when told so.
    ...(isRoot() ? ['--user=root'] : []),
    ...extra,
  ];
}

/**
 * Spawns mariadbd with `args` (in its own process group, not waited for) and resolves once it
 * greets on `port`; rejects with 'port' in the message's `reason` when the port was taken.
 */
export async function runMysqld(server, args, { port, logFile, timeoutS = STARTUP_TIMEOUT_S }) {
  const child = spawn(server, args, { detached: true, stdio: 'ignore' });
  child.unref();
  let exited = false;
  child.once('exit', () => (exited = true));
  child.once('error', () => (exited = true));
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    if (await mysqlGreets(port, { timeoutMs: 500 })) return child.pid;
    const log = await readFile(logFile, 'utf8').catch(() => '');
    const portTaken = /Can't start server: Bind on TCP\/IP port|Address already in use/i.test(log);
    if (exited || portTaken || Date.now() > deadline) {
      killQuietly(child.pid, 'SIGKILL');
      await waitForExit(child.pid, 5_000);
      const error = new Error(
        `mariadbd on ${HOST}:${port} ${exited ? 'exited' : portTaken ? 'could not bind its port' : `did not answer within ${timeoutS}s`}.\n${await logTail(logFile)}`,
      );
      error.reason = portTaken ? 'port' : exited ? 'died' : 'timeout';
      throw error;
    }
    await sleep(25);
  }
}

/**
 * Starts a throwaway MariaDB (or MySQL) server on 127.0.0.1: a fresh data dir from
 * mariadb-install-db, user `keymint` (no password, every privilege, from 127.0.0.1 only) and
 * database `keymint`, time zone +05:30. Resolves once it greets on its port (about a second).
 *
 * @param {{ port?: number }} [options] a fixed port; by default a free one is picked
 * @returns {Promise<{ kind: 'mysql', url: string, host: string, port: number, user: string,
 *   database: string, pid: number | undefined, dir: string, dataDir: string, logFile: string,
 *   serverBinary: string, args: string[], stop: () => Promise<void> }>}
 */
export async function startMysql({ port: fixedPort } = {}) {
  const binaries = findMysqlBinaries();
  if (!binaries) {
    throw new MissingBinaryError(
      `MariaDB server binaries (mariadbd or mysqld, mariadb-install-db; looked on PATH and in ${SBIN.join(', ')})`,
      'mariadb-server',
    );
  }
  const { dir, cleanup } = await makeTempDir('keymint-mysql-');
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'mysqld.log');
  const initFile = path.join(dir, 'init.sql');
  cleanup.pidFile = path.join(dir, 'mysqld.pid');
  const removeDir = async () => {
    cleanup.forget();
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };
  let port;
  let pid;
  let args;
  try {
    // prettier-ignore
    await run(binaries.install, [
      '--no-defaults', `--datadir=${dataDir}`, '--skip-test-db', '--skip-name-resolve',
      '--auth-root-authentication-method=normal', ...(isRoot() ? ['--user=root'] : []),
    ], { cwd: dir, label: 'mariadb-install-db' });
    // Run once at start-up, before the server accepts connections: no client binary needed.
    await writeFile(
      initFile,
      `CREATE DATABASE IF NOT EXISTS ${MYSQL_DATABASE} CHARACTER SET utf8mb4;\n` +
        `CREATE USER IF NOT EXISTS '${MYSQL_USER}'@'${HOST}';\n` +
        `GRANT ALL PRIVILEGES ON *.* TO '${MYSQL_USER}'@'${HOST}' WITH GRANT OPTION;\n`,
    );
    for (let attempt = 1; ; attempt++) {
      port = fixedPort ?? (await freePort());
      args = mysqlServerArgs({ dataDir, dir, port });
      try {
        pid = await runMysqld(binaries.server, [...args, `--init-file=${initFile}`], {
          port,
          logFile,
        });
        break;
      } catch (error) {
        if (error.reason === 'port' && fixedPort === undefined && attempt < PORT_ATTEMPTS) {
          continue;
        }
        throw error;
      }
    }
    cleanup.pid = pid;
    cleanup.signal = 'SIGKILL';
  } catch (error) {
    await removeDir();
    throw error;
  }

  let stopping;
  return {
    kind: 'mysql',
    url: `mysql://${MYSQL_USER}@${HOST}:${port}/${MYSQL_DATABASE}`,
    host: HOST,
    port,
    user: MYSQL_USER,
    database: MYSQL_DATABASE,
    pid,
    dir,
    dataDir,
    logFile,
    serverBinary: binaries.server,
    args,
    /** Stops the server (SIGTERM: a normal shutdown) and removes its temp dir. Idempotent. */
    stop() {
      stopping ??= stopServer({
        pid,
        ask: async () => killQuietly(pid, 'SIGTERM'),
        signal: 'SIGKILL',
        removeDir,
      });
      return stopping;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Both

/**
 * Starts PostgreSQL, Redis and MariaDB (each unless disabled; MariaDB by default only when its
 * binaries are installed) side by side. On failure, whatever did start is stopped again. `stop()`
 * stops them all; safe to call more than once.
 *
 * @param {{ postgres?: boolean, redis?: boolean, mysql?: boolean }} [options]
 * @returns {Promise<{ postgresUrl: string | undefined, redisUrl: string | undefined,
 *   mysqlUrl: string | undefined, postgres: object | undefined, redis: object | undefined,
 *   mysql: object | undefined, stop: () => Promise<void> }>}
 */
export async function startServices({ postgres = true, redis = true, mysql = hasMysql() } = {}) {
  const results = await Promise.allSettled([
    postgres ? startPostgres() : Promise.resolve(undefined),
    redis ? startRedis() : Promise.resolve(undefined),
    mysql ? startMysql() : Promise.resolve(undefined),
  ]);
  const started = results.flatMap((r) => (r.status === 'fulfilled' && r.value ? [r.value] : []));
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
  if (failures.length > 0) {
    await Promise.allSettled(started.map((server) => server.stop()));
    if (failures.length === 1) throw failures[0];
    throw new AggregateError(failures, failures.map((error) => error.message).join('\n'));
  }
  const [pgServer, redisServer, mysqlServer] = results.map((r) =>
    r.status === 'fulfilled' ? r.value : undefined,
  );
  let stopping;
  return {
    postgresUrl: pgServer?.url,
    redisUrl: redisServer?.url,
    mysqlUrl: mysqlServer?.url,
    postgres: pgServer,
    redis: redisServer,
    mysql: mysqlServer,
    stop() {
      stopping ??= Promise.all(started.map((server) => server.stop())).then(() => {});
      return stopping;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// CLI

const USAGE = `Usage:
  node scripts/services.mjs                      start PostgreSQL, Redis and MariaDB (when
                                                 installed), print export lines, stay up until
                                                 Ctrl-C (SIGINT) or SIGTERM
  node scripts/services.mjs run -- <command...>  start them, run the command with
                                                 ${ENV.postgres}, ${ENV.redis} and
                                                 ${ENV.mysql} set, stop them, exit with the
                                                 command's exit code
  node scripts/services.mjs check                say which binaries are found; exit 1 if any is
                                                 missing`;

function exportLines(services) {
  const mysql = services.mysqlUrl ? `export ${ENV.mysql}=${services.mysqlUrl}\n` : '';
  return `export ${ENV.postgres}=${services.postgresUrl}\nexport ${ENV.redis}=${services.redisUrl}\n${mysql}`;
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const signalExitCode = (signal) => 128 + (os.constants.signals[signal] ?? 0);

// Installed before anything starts, so that a signal during startup never leaves servers behind:
// the first one is remembered (and passed to `cli.onSignal` once the servers are up); a second one
// during startup kills whatever exists and exits at once.
const cli = { signal: undefined, starting: false, onSignal: undefined };

function installSignalHandlers() {
  for (const signal of STOP_SIGNALS) {
    process.on(signal, () => {
      if (cli.starting && cli.signal) {
        process.stderr.write(`services: ${signal} again, killing the servers\n`);
        process.exit(signalExitCode(signal)); // the exit hook kills and removes them
      }
      cli.signal ??= signal;
      cli.onSignal?.(signal);
    });
  }
}

async function startForCli() {
  const startedAt = Date.now();
  cli.starting = true;
  let services;
  try {
    services = await startServices();
  } catch (error) {
    process.stderr.write(`services: ${error.message}\n`);
    process.exit(1);
  }
  cli.starting = false;
  if (cli.signal) {
    process.stderr.write(`services: ${cli.signal} during startup, stopping the servers\n`);
    await services.stop();
    process.exit(signalExitCode(cli.signal));
  }
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  return { services, seconds };
}

async function serve() {
  const { services, seconds } = await startForCli();
  let stopping = false;
  cli.onSignal = async (signal) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`services: ${signal}, stopping the servers\n`);
    await services.stop();
    process.exit(0);
  };
  process.stdout.write(exportLines(services));
  process.stderr.write(
    `services: the servers are up on ${HOST} (started in ${seconds}s). In another shell,\n` +
      `  run the export lines above, then npm test. Ctrl-C here stops and removes them.\n`,
  );
  // Stay up until a signal.
  setInterval(() => {}, 1 << 30);
}

/** `check`: the binaries found (with versions), or what to install; exit code 0 when all three are. */
function check() {
  const version = (file) => {
    try {
      return execFileSync(file, ['--version'], { encoding: 'utf8' }).trim();
    } catch (error) {
      return `(${file} --version failed: ${error.message})`;
    }
  };
  const pgBinDir = findPostgresBinDir();
  const redisServer = findRedisServer();
  const mysqlBinaries = findMysqlBinaries();
  const lines = [
    pgBinDir
      ? `services: ${version(path.join(pgBinDir, 'postgres'))} in ${pgBinDir}`
      : 'services: PostgreSQL (initdb, pg_ctl, postgres) not found: install Debian package postgresql',
    redisServer
      ? `services: ${version(redisServer)} at ${redisServer}`
      : 'services: redis-server not found: install Debian package redis-server',
    mysqlBinaries
      ? `services: ${version(mysqlBinaries.server)} at ${mysqlBinaries.server}`
      : 'services: mariadbd (or mysqld) and mariadb-install-db not found: install Debian package mariadb-server',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  process.exit(pgBinDir && redisServer && mysqlBinaries ? 0 : 1);
}

async function runCommand(argv) {
  const command = argv[0] === '--' ? argv.slice(1) : argv;
  if (command.length === 0) {
    process.stderr.write(`services run: no command given.\n${USAGE}\n`);
    process.exit(2);
  }
  const { services, seconds } = await startForCli();
  process.stderr.write(
    `services: PostgreSQL ${services.postgresUrl}, Redis ${services.redisUrl} and ` +
      `MariaDB ${services.mysqlUrl ?? '(not installed)'} (started in ${seconds}s); ` +
      `running: ${command.join(' ')}\n`,
  );
  const child = spawn(command[0], command.slice(1), {
    stdio: 'inherit',
    env: {
      ...process.env,
      [ENV.postgres]: services.postgresUrl,
      [ENV.redis]: services.redisUrl,
      ...(services.mysqlUrl && { [ENV.mysql]: services.mysqlUrl }),
    },
  });
  // Signals are passed on to the command (from a terminal, its process group gets them anyway);
  // the servers are stopped once it has exited.
  cli.onSignal = (signal) => {
    if (child.exitCode === null && child.signalCode === null) killQuietly(child.pid, signal);
  };
  const code = await new Promise((resolve) => {
    child.once('error', (error) => {
      process.stderr.write(`services run: cannot run ${command[0]}: ${error.message}\n`);
      resolve(127);
    });
    child.once('exit', (exitCode, signal) => resolve(exitCode ?? signalExitCode(signal)));
  });
  await services.stop();
  process.exit(code);
}

function isMain() {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const [subcommand, ...rest] = process.argv.slice(2);
  installSignalHandlers();
  if (subcommand === undefined || subcommand === 'start') {
    await serve();
  } else if (subcommand === 'check') {
    check();
  } else if (subcommand === 'run') {
    await runCommand(rest);
  } else if (subcommand === '-h' || subcommand === '--help' || subcommand === 'help') {
    process.stdout.write(`${USAGE}\n`);
  } else {
    process.stderr.write(`services: unknown argument ${subcommand}\n${USAGE}\n`);
    process.exit(2);
  }
}
