// The test servers themselves: what test/global-setup.ts provides, and scripts/services.mjs's
// startRedis() for tests that start (and stop) their own server.
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { expect, it } from 'vitest';
import { loadServices } from './global-setup.js';
import { describeWith, describeWithServer } from './servers.js';

const services = await loadServices();

describeWithServer('postgres', 'the PostgreSQL server for the tests', (url) => {
  it('accepts a connection and SELECT 1, with UTF8 encoding and C collation', async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const one = await client.query<{ one: number }>('SELECT 1 AS one');
      expect(one.rows).toEqual([{ one: 1 }]);
      const settings = await client.query<{ name: string; setting: string }>(
        "SELECT name, setting FROM pg_settings WHERE name IN ('server_encoding', 'lc_collate') ORDER BY name",
      );
      expect(settings.rows).toEqual([
        { name: 'lc_collate', setting: 'C' },
        { name: 'server_encoding', setting: 'UTF8' },
      ]);
    } finally {
      await client.end();
    }
  });
});

describeWithServer('redis', 'the Redis server for the tests', (url) => {
  it('answers PING', async () => {
    const client = new Redis(url, { maxRetriesPerRequest: 1 });
    try {
      expect(await client.ping()).toBe('PONG');
    } finally {
      await client.quit();
    }
  });
});

describeWithServer('mysql', 'the MariaDB server for the tests', (url) => {
  it('accepts a connection and SELECT 1, with utf8mb4 and InnoDB', async () => {
    const connection = await mysql.createConnection({ uri: url });
    try {
      const [rows] = await connection.query(
        'SELECT 1 AS one, @@character_set_server AS charset, @@default_storage_engine AS engine',
      );
      expect(rows).toEqual([{ one: 1, charset: 'utf8mb4', engine: 'InnoDB' }]);
    } finally {
      await connection.end();
    }
  });
});

const mysqlBinaries = {
  what: 'mariadbd (startMysql() starts one)',
  missing: services.hasMysql() ? undefined : "install Debian's mariadb-server",
};
describeWith(mysqlBinaries, 'startMysql() from scripts/services.mjs', () => {
  it('starts a server on loopback in a time zone that is not UTC, and stop() removes its dir', async () => {
    const startedAt = Date.now();
    const server = await services.startMysql();
    const seconds = (Date.now() - startedAt) / 1000;
    try {
      expect(server.url).toBe(`mysql://keymint@127.0.0.1:${server.port}/keymint`);
      // Seconds, not minutes: the whole CI run stays well under 15 minutes.
      expect(seconds).toBeLessThan(30);
      const connection = await mysql.createConnection({ uri: server.url });
      try {
        const [rows] = await connection.query(
          'SELECT @@global.time_zone AS tz, @@bind_address AS bind, DATABASE() AS db',
        );
        expect(rows).toEqual([{ tz: '+05:30', bind: '127.0.0.1', db: 'keymint' }]);
      } finally {
        await connection.end();
      }
    } finally {
      await server.stop();
    }
    await server.stop();
    expect(existsSync(server.dir)).toBe(false);
  }, 60_000);
});

// Needs redis-server itself, not just a URL.
const redisServer = {
  what: 'redis-server (startRedis() starts one)',
  missing: services.hasRedis() ? undefined : "install Debian's redis-server",
};
describeWith(redisServer, 'startRedis() from scripts/services.mjs', () => {
  it('starts a server that answers PING, and stop() shuts it down and removes its dir', async () => {
    const server = await services.startRedis();
    try {
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
      const client = new Redis(server.url);
      try {
        expect(await client.ping()).toBe('PONG');
      } finally {
        await client.quit();
      }
    } finally {
      await server.stop();
    }
    await server.stop(); // a second stop() is harmless
    expect(existsSync(server.dir)).toBe(false);

    const late = new Redis(server.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    const errors: NodeJS.ErrnoException[] = [];
    late.on('error', (error: NodeJS.ErrnoException) => errors.push(error));
    try {
      // ioredis rejects with "Connection is closed." and emits the socket's error.
      await expect(late.connect()).rejects.toThrow();
    } finally {
      late.disconnect();
    }
    expect(errors.map((error) => error.code)).toContain('ECONNREFUSED');
  });
});
