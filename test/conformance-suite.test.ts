/**
 * Tests the conformance suite itself: it must pass the memory adapter and fail each deliberately
 * broken copy of it ("mutants", in test/fixtures/conformance-mutants.fixture.ts), in the test
 * that targets the bug. The suite registers vitest groups, so it runs in one child vitest whose
 * JSON report is read here.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { isKeymintError } from '../src/errors.js';
import { CONFORMANCE_GROUPS, describeAdapterConformance } from '../src/testing/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CONFIG = 'test/fixtures/vitest.mutants.config.ts';
const SUITE = 'keymint adapter conformance: ';

/** Each mutant of the fixture, with the group and title of the test aimed at its bug. */
const TARGETS = {
  'utf16-order': ['list', 'sorts a scope by name in code point order'],
  'racy-insert': ['unique names', 'lets exactly one of 50 concurrent inserts of one name win'],
  seconds: ['insert and find', 'keeps every timestamp to the millisecond'],
  'last-revoke-wins': ['update', 'keeps the first revokedAt: a second revocation changes nothing'],
  'shared-objects': [
    'insert and find',
    'returns fresh objects: changing a returned or inserted record changes nothing stored',
  ],
  'purge-exclusive': [
    'purge',
    'deleteExpired() removes keys expired at or before the instant, in every scope',
  ],
  'throws-when-missing': ['not found', 'findById() of an unknown id is null'],
  'offset-after': ['list', 'starts strictly after `after`, whether or not that name exists'],
  'no-activeAt': [
    'list',
    'with activeAt, leaves out keys expired at that instant and keeps keys without expiry',
  ],
  'name-conflict-as-id': [
    'unique names',
    'refuses a second key with a taken name in the same scope and keeps the first',
  ],
  'list-shared-objects': ['insert and find', 'returns fresh objects from list() and update() too'],
  'no-limit-after': ['list', 'applies limit together with after'],
  'read-modify-write': ['update', 'keeps a revocation that races 20 last-used writes'],
  'last-used-backwards': [
    'update',
    'keeps the later lastUsedAt: an older write that lands late changes nothing',
  ],
  'touch-backwards': [
    'touch many',
    'writes every entry of a batch, only forward in time, and ignores unknown ids',
  ],
  'no-publish-on-delete': [
    'invalidation',
    'delivers the id of a revoked key and of a deleted key, within a second',
  ],
  'publish-on-last-used': [
    'invalidation',
    'delivers nothing for last-used or rehash updates, or for missing ids',
  ],
  'count-revoked': [
    'count live',
    "counts a scope's keys that are neither revoked nor expired at the given instant",
  ],
  'racy-rename': ['modify', 'lets exactly one of 50 concurrent renames to one name win'],
  'modify-revoked': [
    'modify',
    'refuses to change a revoked record, leaving it and the new name untouched',
  ],
  'no-condition': ['modify', 'changes only while the secret hash is the one the condition names'],
  'racy-condition': ['modify', 'gives 20 concurrent changes under one condition one winner'],
  'rename-keeps-old-name': [
    'modify',
    'renames: frees the old name, takes the new one, keeps the scope in list order',
  ],
  'half-written-modify': [
    'modify',
    'refuses a name another record of the scope has, and changes nothing else of that call',
  ],
  'no-publish-on-modify': [
    'invalidation',
    'delivers the id of a key changed by modify() (an update, a rotation), within a second',
  ],
  'no-previous-secret': [
    'rotation',
    'lets the old key verify during the grace period and answers rotated from its end',
  ],
  'owner-ignored': [
    'owners',
    'lists only one owner of one scope, in code point order, page by page over many keys',
  ],
  'no-permissions-change': [
    'owners',
    'modify() sets, replaces and clears permissions, and keeps the owner',
  ],
  'revoke-any-scope': [
    'revoke by owner',
    'revokes every live key of that owner in that scope, returns their ids, touches nothing else',
  ],
  'no-publish-on-revoke-owner': [
    'revoke by owner',
    'publishes every revoked id to subscribers, within a second',
  ],
  'racy-failures': [
    'failure counter',
    'lets exactly the limit of 50 concurrent reservations through',
  ],
  'counts-unknown-ids': [
    'failure counter',
    'keeps no state for an id without a record, and drops the window with the key',
  ],
  'racy-usage': [
    'rate limit',
    'lets exactly limit of 500 concurrent counts through in one window, then starts over in the next',
  ],
  'no-refill': [
    'credits',
    'refills to the amount in a later period, and starts again from fresh when set again',
  ],
  'spend-on-refusal': [
    'credits',
    'counts a rate limit and credits together: a refusal by either spends neither',
  ],
} as const satisfies Record<string, readonly [(typeof CONFORMANCE_GROUPS)[number], string]>;

const CORRECT = ['correct', 'unmutated copy'] as const;
const SKIPS = 'skips';
const SKIPPED_GROUPS: readonly string[] = ['paging', 'update', 'failure counter'];
/** The memory adapter has no failure counter (keymint counts per process for it). */
const NOT_IN_MEMORY = 'failure counter';

/** The part of vitest's JSON report read here. */
interface JsonReport {
  numTotalTests: number;
  testResults: {
    name: string;
    status: string;
    message?: string;
    assertionResults: {
      ancestorTitles: string[];
      title: string;
      status: string;
      failureMessages?: string[];
    }[];
  }[];
}

interface Result {
  registration: string;
  group: string;
  title: string;
  status: string;
  failureMessages: string[];
}

let results: Result[] = [];
let childOutput = '';
let tmp: string | undefined;

/** Runs a command to its end; a failing exit is expected (the mutants fail). */
function run(file: string, args: string[], env: NodeJS.ProcessEnv) {
  return new Promise<string>((resolve) => {
    execFile(
      file,
      args,
      { cwd: ROOT, env, timeout: 150_000, maxBuffer: 64 * 1024 * 1024 },
      (_error, stdout, stderr) => resolve(`${stdout}\n${stderr}`),
    );
  });
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'keymint-mutants-'));
  const outputFile = join(tmp, 'report.json');
  // The child is a fresh vitest, not a worker of this one.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !name.startsWith('VITEST') && name !== 'NODE_V8_COVERAGE',
    ),
  );
  childOutput = await run(
    process.execPath,
    [
      'node_modules/vitest/vitest.mjs',
      'run',
      '--config',
      CONFIG,
      '--reporter=json',
      `--outputFile=${outputFile}`,
    ],
    env,
  );
  let report: JsonReport;
  try {
    report = JSON.parse(await readFile(outputFile, 'utf8')) as JsonReport;
  } catch (error) {
    throw new Error(`The child vitest wrote no report. Its output:\n${childOutput}`, {
      cause: error,
    });
  }
  expect(report.testResults.map((file) => file.name)).toEqual([
    join(ROOT, 'test/fixtures/conformance-mutants.fixture.ts'),
  ]);
  expect(report.testResults[0]!.message ?? '', 'the fixture failed to load').toBe('');
  results = report.testResults[0]!.assertionResults.map((a) => ({
    registration: a.ancestorTitles[0]!.startsWith(SUITE)
      ? a.ancestorTitles[0]!.slice(SUITE.length)
      : a.ancestorTitles[0]!,
    group: a.ancestorTitles[1] ?? '',
    title: a.title,
    status: a.status,
    failureMessages: a.failureMessages ?? [],
  }));
  expect(report.numTotalTests).toBe(results.length);
}, 160_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const of = (registration: string) => results.filter((r) => r.registration === registration);
const failed = (registration: string) =>
  of(registration)
    .filter((r) => r.status === 'failed')
    .map((r) => `${r.group} > ${r.title}`);

describe('the conformance suite run on broken adapters (child vitest)', () => {
  it('reports every registration of the fixture, and nothing else', () => {
    expect(new Set(results.map((r) => r.registration))).toEqual(
      new Set([...CORRECT, SKIPS, ...Object.keys(TARGETS)]),
    );
  });

  it.each(CORRECT)('passes every test of the %s memory adapter, in every group', (name) => {
    const own = of(name);
    expect(own.length).toBeGreaterThan(30);
    expect(failed(name)).toEqual([]);
    // The memory adapter itself skips the failure counter; its copy has a reference one.
    const ran = name === 'correct' ? own.filter((r) => r.group !== NOT_IN_MEMORY) : own;
    expect(ran.filter((r) => r.status !== 'passed')).toEqual([]);
    expect(ran.length).toBeGreaterThan(30);
    expect(new Set(own.map((r) => r.group))).toEqual(new Set(CONFORMANCE_GROUPS));
  });

  it.each(Object.entries(TARGETS))(
    'fails the mutant %s in the test aimed at its bug (%j)',
    (mutant, [group, title]) => {
      const own = of(mutant);
      expect(own.length).toBeGreaterThan(0);
      expect(failed(mutant).length).toBeGreaterThan(0);
      expect(failed(mutant)).toContain(`${group} > ${title}`);
      const target = own.find((r) => r.group === group && r.title === title);
      expect(target?.failureMessages.join('\n')).not.toMatch(/Test timed out/);
    },
  );

  it('shows the tests of skipped groups as skipped and runs the rest', () => {
    const own = of(SKIPS);
    const correct = of('correct');
    expect(own.map((r) => `${r.group} > ${r.title}`)).toEqual(
      correct.map((r) => `${r.group} > ${r.title}`),
    );
    const skipped = own.filter((r) => SKIPPED_GROUPS.includes(r.group));
    expect(skipped.length).toBeGreaterThan(1);
    for (const r of skipped) expect(['skipped', 'pending']).toContain(r.status);
    const ran = own.filter((r) => !SKIPPED_GROUPS.includes(r.group));
    expect(ran.length).toBeGreaterThan(20);
    for (const r of ran) expect(r.status).toBe('passed');
  });
});

describe('describeAdapterConformance() options', () => {
  it('refuses an unknown group name in skip with CONFIG, naming the groups', () => {
    let thrown: unknown;
    try {
      describeAdapterConformance({
        name: 'x',
        createAdapter: () => memoryAdapter(),
        skip: ['pagin' as never],
      });
    } catch (error) {
      thrown = error;
    }
    expect(isKeymintError(thrown, 'CONFIG')).toBe(true);
    const message = (thrown as Error).message;
    expect(message).toContain('"pagin"');
    for (const group of CONFORMANCE_GROUPS) expect(message).toContain(group);
  });

  it('refuses options without a name or a createAdapter function with CONFIG', () => {
    for (const options of [
      { name: 'x' },
      { createAdapter: () => memoryAdapter() },
      { name: 'x', createAdapter: memoryAdapter() },
      undefined,
    ]) {
      let thrown: unknown;
      try {
        describeAdapterConformance(options as never);
      } catch (error) {
        thrown = error;
      }
      expect(isKeymintError(thrown, 'CONFIG'), JSON.stringify(options)).toBe(true);
    }
  });
});
