// Turning measurements into the table (text and Markdown), docs/benchmarks.md and the SVG chart.
import { execFileSync } from 'node:child_process';
import os from 'node:os';

const MiB = 1024 * 1024;

export const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
export const fmtNs = (ns) => (ns >= 100 ? fmtInt(ns) : ns.toFixed(1));
export const fmtOps = (ops) => (ops >= 100 ? fmtInt(ops) : ops.toPrecision(3));
export const fmtRatio = (r) =>
  r >= 100 ? fmtInt(r) : r >= 0.001 ? r.toPrecision(3) : r.toExponential(2);
export const fmtMs = (ns) =>
  ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : `${(ns / 1e3).toFixed(1)} µs`;
export const fmtMiB = (bytes) => `${(bytes / MiB).toFixed(2)} MiB`;
const pass = (ok) => (ok ? 'PASS' : 'FAIL');

/** The checked-out commit, marked when src/ has uncommitted changes; undefined outside git. */
function commit(root) {
  try {
    const git = (...args) =>
      execFileSync('git', args, {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    const head = git('rev-parse', '--short', 'HEAD').trim();
    return git('status', '--porcelain', '--', 'src').trim()
      ? `${head} + uncommitted src changes`
      : head;
  } catch {
    return undefined;
  }
}

/** The machine, Node.js, commit and date, for the header of every report. */
export function machine(root) {
  const cpus = os.cpus();
  return {
    cpu: `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}`,
    os: `${os.type()} ${os.release()} (${os.arch()})`,
    memory: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    load: os
      .loadavg()
      .map((n) => n.toFixed(2))
      .join(', '),
    node: process.version,
    commit: commit(root),
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

/**
 * Builds the table rows from the medians (ns/op per subject id), the scenarios, and the targets.
 * Each row: { id, name, group, ns, ops, ratio, target, status, note, skipped }.
 */
export function buildRows({ subjects, medians, spreads, concurrent, flood, heapFlatBytes }) {
  const floorNs = medians.get('floor');
  const row = (base, ns, extra = {}) => ({
    ...base,
    ns,
    ops: 1e9 / ns,
    ratio: floorNs / ns,
    ...extra,
  });
  const rows = subjects.map((s) =>
    s.skipped
      ? { id: s.id, name: s.name, group: s.group, skipped: s.skipped, note: s.skipped }
      : row({ id: s.id, name: s.name, group: s.group }, medians.get(s.id), {
          note: [s.note, spreads.get(s.id)].filter(Boolean).join('; '),
        }),
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  const targets = [];
  const target = (id, text, ok, value) => {
    const r = byId.get(id);
    if (!r) return;
    const status = r.skipped ? 'SKIP' : pass(ok);
    (r.targets ??= []).push(`${text}: ${r.skipped ? '-' : value} ${status}`);
    r.target = r.targets.join('; ');
    r.status = r.status === 'FAIL' ? 'FAIL' : status;
    targets.push({ row: r.name, text, value: r.skipped ? r.skipped : value, status });
  };

  const memory = byId.get('warm-memory');
  target('warm-memory', '≥ 0.72× floor', memory.ratio >= 0.72, `${fmtRatio(memory.ratio)}×`);
  const betterAuth = byId.get('better-auth');
  const vsBetterAuth = memory.ops / betterAuth.ops;
  target('warm-memory', '≥ 100× better-auth', vsBetterAuth >= 100, `${fmtRatio(vsBetterAuth)}×`);
  for (const id of ['warm-sqlite', 'warm-postgres', 'warm-mysql', 'warm-redis']) {
    const r = byId.get(id);
    const rel = r.skipped ? 0 : r.ops / memory.ops;
    target(id, 'within 10% of warm memory', rel >= 0.9, `${fmtRatio(rel)}×`);
  }
  // The cold MariaDB row reads the row by primary key as the raw SELECT does, plus HMAC and the
  // batched last-used write: at least 0.3× the raw select's rate.
  const coldMysql = byId.get('cold-mysql');
  const rawMysql = byId.get('raw-mysql');
  const vsRaw = coldMysql.skipped || rawMysql.skipped ? 0 : coldMysql.ops / rawMysql.ops;
  target('cold-mysql', '≥ 0.3× raw SELECT', vsRaw >= 0.3, `${fmtRatio(vsRaw)}×`);
  for (const id of ['malformed-checksum', 'malformed-checksum-cold', 'malformed-random']) {
    const r = byId.get(id);
    target(id, '≥ 1.0× floor', r.ratio >= 1, `${fmtRatio(r.ratio)}×`);
  }
  const one = row(
    { id: 'first-one', name: 'verifyKey first, argon2id, fresh instance', group: 'keymint' },
    concurrent.oneNs,
    {
      note: `one verification on a fresh instance (cache on, empty); median of ${concurrent.rounds}`,
    },
  );
  const outcomeText = Object.entries(concurrent.outcomes)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  const many = row(
    {
      id: 'first-concurrent',
      name: `verifyKey ×${concurrent.concurrency} concurrent, first, argon2id (per group)`,
      group: 'keymint',
    },
    concurrent.manyNs,
    {
      note: `ns/op is the wall time of all ${concurrent.concurrency} together (op = the group); outcomes: ${outcomeText}`,
    },
  );
  rows.push(one, many);
  byId.set(many.id, many);
  const allValid = (concurrent.outcomes.valid ?? 0) === concurrent.concurrency * concurrent.rounds;
  const concurrentRatio = concurrent.manyNs / concurrent.oneNs;
  target(
    'first-concurrent',
    `≤ 3× one first verification`,
    concurrentRatio <= 3 && allValid,
    `${fmtRatio(concurrentRatio)}×${allValid ? '' : ' (not all valid)'}`,
  );

  const heapDelta = flood.heapAfter - flood.heapBefore;
  const heapFlat = flood.gc && heapDelta < heapFlatBytes;
  const wrong = Object.entries(flood.wrongOutcomes)
    .map(([k, v]) => `${fmtInt(v)} ${k}`)
    .join(', ');
  const validOutcomes = Object.entries(flood.valid.outcomes)
    .map(([k, v]) => `${fmtInt(v)} ${k}`)
    .join(', ');
  const floodRow = row(
    {
      id: 'flood',
      name: `verifyKey warm during ${fmtInt(flood.rate)} wrong secrets/s, argon2id`,
      group: 'keymint',
    },
    flood.valid.p50Ns,
    {
      note:
        `${(flood.durationMs / 1000).toFixed(1)} s; valid calls: ${validOutcomes}, p50 ${fmtMs(flood.valid.p50Ns)}, ` +
        `p99 ${fmtMs(flood.valid.p99Ns)}, max ${fmtMs(flood.valid.maxNs)}; wrong: ${wrong}` +
        `${flood.unsettled ? ` (${fmtInt(flood.unsettled)} still pending)` : ''}; heapUsed ` +
        `${fmtMiB(flood.heapBefore)} → ${fmtMiB(flood.heapAfter)}${flood.gc ? '' : ' (no --expose-gc)'}`,
    },
  );
  rows.push(floodRow);
  byId.set(floodRow.id, floodRow);
  const allValidFlood = Object.keys(flood.valid.outcomes).every((k) => k === 'valid');
  target(
    'flood',
    'valid p99 < 1 ms',
    flood.valid.p99Ns < 1e6 && allValidFlood,
    `${fmtMs(flood.valid.p99Ns)}${allValidFlood ? '' : ' (not all valid)'}`,
  );
  target(
    'flood',
    `heap flat (< ${fmtMiB(heapFlatBytes)})`,
    heapFlat,
    `${heapDelta >= 0 ? '+' : ''}${fmtMiB(heapDelta)}`,
  );
  return { rows, targets };
}

const COLUMNS = [
  ['name', 'left'],
  ['median ns/op', 'right'],
  ['ops/s', 'right'],
  ['ratio to floor', 'right'],
  ['target', 'left'],
  ['note', 'left'],
];

function cells(r) {
  if (r.skipped) return [r.name, '-', '-', '-', r.target ?? '', r.skipped];
  const ratio = typeof r.ratio === 'number' ? fmtRatio(r.ratio) : '-';
  return [r.name, fmtNs(r.ns), fmtOps(r.ops), ratio, r.target ?? '', r.note ?? ''];
}

/** A plain-text table for the terminal. */
export function textTable(rows) {
  const body = rows.map(cells);
  const widths = COLUMNS.map(([title], i) =>
    Math.max(title.length, ...body.map((c) => (i === 5 ? 0 : c[i].length))),
  );
  const line = (c) =>
    c
      .map((text, i) =>
        i === 5
          ? text
          : COLUMNS[i][1] === 'right'
            ? text.padStart(widths[i])
            : text.padEnd(widths[i]),
      )
      .join('  ')
      .trimEnd();
  return [
    line(COLUMNS.map(([t]) => t)),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.map(line),
  ].join('\n');
}

/** The same table in Markdown (prettier aligns it when the file is written). */
export function markdownTable(rows) {
  const esc = (text) => text.replaceAll('|', '\\|');
  const head = `| ${COLUMNS.map(([t]) => t).join(' | ')} |`;
  const rule = `| ${COLUMNS.map(([, a]) => (a === 'right' ? '---:' : '---')).join(' | ')} |`;
  return [head, rule, ...rows.map((r) => `| ${cells(r).map(esc).join(' | ')} |`)].join('\n');
}

const xml = (text) =>
  String(text)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');

/** 1,234,567 as 1.23M, 160,798 as 161k, 50.3 as 50.3: three significant digits. */
const compact = (n) =>
  n >= 1e6
    ? `${(n / 1e6).toPrecision(3)}M`
    : n >= 1e3
      ? `${(n / 1e3).toPrecision(3)}k`
      : n.toPrecision(3);

const COLORS = { floor: '#6b7280', keymint: '#2563eb', peer: '#ea580c' };

/** A horizontal bar chart of ops/s on a log scale, one bar per row, as standalone SVG. */
export function svgChart(rows, { title, subtitle }) {
  const labelWidth = 390;
  const barWidth = 470;
  const valueWidth = 150;
  const rowHeight = 26;
  const top = 84;
  const width = labelWidth + barWidth + valueWidth + 20;
  const height = top + rows.length * rowHeight + 56;
  const measured = rows.filter((r) => !r.skipped);
  const lo = Math.floor(Math.log10(Math.min(...measured.map((r) => r.ops))));
  const hi = Math.ceil(Math.log10(Math.max(...measured.map((r) => r.ops))));
  const x = (ops) => labelWidth + ((Math.log10(ops) - lo) / (hi - lo)) * barWidth;
  const decade = (e) =>
    e >= 6 ? `${10 ** (e - 6)}M` : e >= 3 ? `${10 ** (e - 3)}k` : `${10 ** e}`;
  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="16" y="28" font-size="17" font-weight="600" fill="#111827">${xml(title)}</text>`,
    `<text x="16" y="50" font-size="12" fill="#4b5563">${xml(subtitle)}</text>`,
  );
  const chartBottom = top + rows.length * rowHeight;
  for (let e = lo; e <= hi; e++) {
    const gx = x(10 ** e).toFixed(1);
    out.push(
      `<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${chartBottom}" stroke="#e5e7eb"/>`,
      `<text x="${gx}" y="${chartBottom + 18}" font-size="12" fill="#4b5563" text-anchor="middle">${decade(e)}</text>`,
    );
  }
  const floor = rows.find((r) => r.id === 'floor');
  if (floor) {
    const fx = x(floor.ops).toFixed(1);
    out.push(
      `<line x1="${fx}" y1="${top - 6}" x2="${fx}" y2="${chartBottom}" stroke="#6b7280" stroke-dasharray="4 3"/>`,
    );
  }
  out.push(
    `<text x="${labelWidth + barWidth / 2}" y="${chartBottom + 38}" font-size="12" fill="#4b5563" text-anchor="middle">operations per second, log scale (in brackets: ratio to the floor)</text>`,
  );
  rows.forEach((r, i) => {
    const y = top + i * rowHeight;
    out.push(
      `<text x="${labelWidth - 10}" y="${y + 17}" fill="#111827" text-anchor="end">${xml(r.name)}</text>`,
    );
    if (r.skipped) {
      out.push(
        `<text x="${labelWidth + 6}" y="${y + 17}" fill="#6b7280" font-style="italic">${xml(r.skipped)}</text>`,
      );
      return;
    }
    const w = Math.max(2, x(r.ops) - labelWidth);
    const color = r.status === 'FAIL' ? '#dc2626' : (COLORS[r.group] ?? COLORS.keymint);
    out.push(
      `<rect x="${labelWidth}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowHeight - 8}" rx="2" fill="${color}"/>`,
      `<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + 17}" fill="#111827" stroke="#ffffff" stroke-width="4" paint-order="stroke">${compact(r.ops)}<tspan dx="5" fill="#6b7280">(${r.id === 'floor' ? 'floor' : typeof r.ratio === 'number' ? `${fmtRatio(r.ratio)}×` : '-'})</tspan></text>`,
    );
  });
  const legend = [
    ['floor', COLORS.floor],
    ['keymint', COLORS.keymint],
    ['peer library', COLORS.peer],
    ['target missed', '#dc2626'],
  ];
  let lx = labelWidth;
  for (const [text, color] of legend) {
    out.push(
      `<rect x="${lx}" y="${top - 26}" width="12" height="12" rx="2" fill="${color}"/>`,
      `<text x="${lx + 17}" y="${top - 16}" font-size="12" fill="#374151">${xml(text)}</text>`,
    );
    lx += 30 + text.length * 7;
  }
  out.push(
    `<line x1="${lx}" y1="${top - 20}" x2="${lx + 14}" y2="${top - 20}" stroke="#6b7280" stroke-dasharray="4 3"/>`,
    `<text x="${lx + 19}" y="${top - 16}" font-size="12" fill="#374151">floor (async)</text>`,
  );
  out.push('</svg>', '');
  return out.join('\n');
}
