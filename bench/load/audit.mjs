// Audit bench: the egress audit with the proxy at full rate, then with 10 million egress rows stored.
//
// Usage: node bench/load/audit.mjs [--seconds S] [--connections N] [--sessions K] [--rows R] [--seed-days D]
//          [--loaded-seconds L] [--requests M] [--origin-workers W] [--keep]
// (bench/load/audit.sh checks the tools and raises the descriptor limit first.)
//
// 1. Full rate, fresh database: a real `airlock serve` with the load test's origin, credential and sessions
//    (see load.mjs), N (64) intercepted keep-alive connections over K (4) sessions sending GETs back to
//    back for S (180) seconds, every other one with the placeholder. GET /metrics once a second: audit rows
//    written per second (mean, and the least of the ~1 s windows between scrapes), proxy requests per
//    second, the audit queue's depth (max and mean of the samples), dropped and lost rows. Then the
//    database's growth per million rows: its pages in use (page_count - freelist_count, the figure
//    audit.max_bytes compares), read with the sqlite3 CLI before and after the load.
// 2. Seeding: the daemon stops; the sqlite3 CLI inserts R (10,000,000) egress rows shaped like the ones the
//    proxy wrote (its method, host, status, bytes, credentials; the path and the time vary), 70% in the
//    first session and the rest over the others, created_at spread evenly over the last D (31) days, so
//    the rows older than audit.retention_days (30), a day's worth, are due for the purge at the next start
//    (--seed-days 29: none are).
// 3. Restart on that database: time to ready, and to the first API answer (the retention purge runs first
//    on the control thread); L (30) s at full rate again as in 1, whose connections send while that purge
//    runs (the first sample, the start of the figures' window, waits for it); then
//    GET /v1/sessions/{id}/egress, M (50) requests each, one at a time, each on a fresh connection: the
//    first page (default limit, and limit=1000), a page in the middle and a page near the end of the big
//    session (cursors of the form next_page carries), and the first page of a small session.
//
// Figures only, except the audit's own invariant: the exit code is 1 when a row was dropped or lost, or
// the rows written differ from the exchanges the proxy counted. All traffic is on 127.0.0.1; everything is
// written to a temp dir, removed at the end unless --keep.
import { execFileSync } from 'node:child_process';
import cluster from 'node:cluster';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Connection, call, createSessions, delay, kHost, prepareOrigin, runOriginWorker } from './common.mjs';

const kSeedChunk = 1_000_000;  // rows per seeding transaction (one progress line each)
const kDrainMs = 15_000;       // how long the writer may take to write what is queued once the load stops
const kBigShare = 7;           // of every 10 seeded rows, this many go to the first session

if (cluster.isWorker) {
  runOriginWorker();
} else {
  main().then((code) => process.exit(code), (error) => {
    console.error(`audit bench: ${error.stack || error}`);
    process.exit(2);
  });
}

function parseArgs(argv) {
  const options = { seconds: 180, connections: 64, sessions: 4, rows: 10_000_000, seedDays: 31, loadedSeconds: 30,
                    requests: 50, originWorkers: 2, keep: false };
  const numeric = { '--seconds': 'seconds', '--connections': 'connections', '--sessions': 'sessions', '--rows': 'rows',
                    '--seed-days': 'seedDays', '--loaded-seconds': 'loadedSeconds', '--requests': 'requests',
                    '--origin-workers': 'originWorkers' };
  const mayBeZero = new Set(['rows', 'loadedSeconds']);
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--keep') { options.keep = true; continue; }
    if (arg === '-h' || arg === '--help') {
      console.log('usage: audit.mjs [--seconds 180] [--connections 64] [--sessions 4] [--rows 10000000] [--seed-days 31]\n' +
                  '                 [--loaded-seconds 30] [--requests 50] [--origin-workers 2] [--keep]\n' +
                  '--rows 0 skips the seeding and everything after it.');
      process.exit(0);
    }
    const [flag, inline] = arg.split('=', 2);
    const key = numeric[flag];
    const value = Number(inline ?? argv[++i]);
    if (!key || !Number.isInteger(value) || value < (mayBeZero.has(key) ? 0 : 1)) throw new Error(`bad argument ${arg} (see --help)`);
    options[key] = value;
  }
  if (Math.ceil(options.connections / options.sessions) > 256) {
    throw new Error('more than 256 connections per session (proxy.max_connections_per_session): pass more --sessions');
  }
  return options;
}

// ---- measuring ------------------------------------------------------------------------------------------

// The Prometheus text of GET /metrics: each family's samples summed over their labels.
function parseMetrics(text) {
  const sums = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (match) sums.set(match[1], (sums.get(match[1]) || 0) + Number(match[3]));
  }
  return sums;
}

async function scrape(daemon) {
  const sent = performance.now();
  const { status, text } = await call(daemon, 'GET', '/metrics');
  const t = performance.now();
  if (status !== 200) throw new Error(`GET /metrics: ${status} ${text.slice(0, 200)}`);
  const m = parseMetrics(text);
  const value = (name) => m.get(name) ?? 0;
  return {
    t, ms: t - sent,
    requests: value('airlock_proxy_requests_total'),
    written: value('airlock_audit_rows_written_total'),
    dropped: value('airlock_audit_rows_dropped_total'),
    lost: value('airlock_audit_rows_lost_total'),
    batches: value('airlock_audit_batches_total'),
    purged: value('airlock_audit_rows_purged_total'),
    queue: value('airlock_audit_queue_depth'),
  };
}

// The database's pages in use, in bytes (what audit.max_bytes compares; SQLite reuses freed pages and the
// file does not shrink), and the file with its WAL. Read with the sqlite3 CLI; the daemon may be running.
function databaseSize(dataDir) {
  const file = path.join(dataDir, 'airlock.db');
  const used = Number(sqlite(file, 'SELECT (SELECT page_count FROM pragma_page_count()) - ' +
    '(SELECT freelist_count FROM pragma_freelist_count()), (SELECT page_size FROM pragma_page_size());', ['-readonly', '-separator', '*'])
    .trim().split('*').reduce((a, b) => Number(a) * Number(b)));
  const size = (name) => { try { return fs.statSync(path.join(dataDir, name)).size; } catch { return 0; } };
  return { used, file: size('airlock.db') + size('airlock.db-wal') };
}

function sqlite(file, sql, flags = []) {
  return execFileSync('sqlite3', [...flags, file], { input: sql, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] : NaN;
}

// ---- driving the proxy ----------------------------------------------------------------------------------

// `connections` intercepted keep-alive connections over the sessions, requests back to back for `seconds`;
// GET /metrics about once a second meanwhile. Then waits for the writer to write what is queued.
async function drive(context, seconds, log) {
  const { daemon, sessions, secureContext, origin, options } = context;
  const [host, port] = daemon.proxyAddress.split(':');
  const connections = Array.from({ length: options.connections },
    (_, i) => new Connection(i, sessions[i % sessions.length], { host, port: Number(port) }, origin.port, secureContext));
  const client = { completed: 0, non2xx: 0, errors: 0, firstError: null };
  let stopping = false;
  const noteError = (text) => {
    client.errors += 1;
    client.firstError ??= text;
  };
  const loop = async (connection) => {
    while (!stopping) {
      if (!connection.socket) {
        try {
          await connection.open();
        } catch (error) {
          noteError(`connection ${connection.id}: ${error.kind}: ${error.message}`);
          await delay(250);
          continue;
        }
      }
      try {
        const response = await connection.request(connection.sent % 2 === 0);
        client.completed += 1;
        if (response.status < 200 || response.status > 299) client.non2xx += 1;
        if (/\bclose\b/i.test(response.headers.connection || '')) connection.destroy();
      } catch (error) {
        noteError(`connection ${connection.id}: ${error.kind}: ${error.message}`);
        connection.destroy();
      }
    }
  };
  // Every connection open before the first sample, so the first window is not the ramp.
  await Promise.all(connections.map((connection) => connection.open().catch((error) => {
    noteError(`connection ${connection.id}: ${error.kind}: ${error.message}`);
  })));
  const loops = connections.map(loop);

  // Samples until the load stops; the windows between them give the rates.
  const samples = [await scrape(daemon)];
  const loadStart = samples[0].t;
  let nextReport = loadStart + 10_000;
  while (performance.now() - loadStart < seconds * 1000) {
    await delay(Math.max(0, 1000 - (performance.now() - samples.at(-1).t)));
    const s = await scrape(daemon);
    samples.push(s);
    if (s.t >= nextReport) {
      const back = samples.find((x) => x.t >= s.t - 10_000);
      const rate = (key) => Math.round((s[key] - back[key]) / ((s.t - back.t) / 1000));
      log(`  t=${String(Math.round((s.t - loadStart) / 1000)).padStart(3)} s  ${String(rate('requests')).padStart(5)} req/s  ` +
          `${String(rate('written')).padStart(5)} rows/s  queue ${s.queue}  dropped ${s.dropped} (daemon life)`);
      nextReport += 10_000;
    }
  }
  stopping = true;
  await Promise.all(loops);
  const loadEnd = samples.at(-1);
  await Promise.all(connections.map((connection) => connection.close()));

  // The writer writes every 250 ms: wait until every exchange the proxy counted is written, dropped or lost.
  let end = await scrape(daemon);
  const drainStart = performance.now();
  while ((end.queue > 0 || end.written + end.dropped + end.lost < end.requests) && performance.now() - drainStart < kDrainMs) {
    await delay(250);
    end = await scrape(daemon);
  }

  const first = samples[0];
  const windows = samples.slice(1).map((s, i) => {
    const previous = samples[i];
    const span = (s.t - previous.t) / 1000;
    return { rows: (s.written - previous.written) / span, requests: (s.requests - previous.requests) / span };
  });
  const span = (loadEnd.t - first.t) / 1000;
  return {
    seconds: span,
    requestsPerSecond: (loadEnd.requests - first.requests) / span,
    rowsPerSecond: (loadEnd.written - first.written) / span,
    minRowsPerSecond: Math.min(...windows.map((w) => w.rows)),
    minRequestsPerSecond: Math.min(...windows.map((w) => w.requests)),
    queueMax: Math.max(...samples.map((s) => s.queue)),
    queueMean: samples.reduce((n, s) => n + s.queue, 0) / samples.length,
    slowestScrapeMs: Math.max(...samples.map((s) => s.ms)),
    // Since the daemon started (a window's deltas would miscount the rows queued at its first sample).
    exchanges: end.requests,
    written: end.written,
    dropped: end.dropped,
    lost: end.lost,
    rowsPerBatch: (end.written - first.written) / Math.max(1, end.batches - first.batches),
    purged: end.purged,
    client,
  };
}

// ---- seeding --------------------------------------------------------------------------------------------

const sqlText = (value) => (value === null || value === undefined ? 'NULL' : `'${String(value).replaceAll("'", "''")}'`);

// Inserts `rows` egress rows with the daemon stopped: copies of a row the proxy wrote with the credential and
// of one without (alternating, as the load sends them), ids of the same length that sort in insertion
// order like the time-ordered ones, paths /a|p/<n % 64>/<n / 64>, created_at evenly from `days` days ago to
// now in the store's format (microseconds, Z). Rolled-back journal and no fsync while seeding, WAL again
// after. Returns the rows each session got.
function seed(dataDir, sessions, rows, days, log) {
  const file = path.join(dataDir, 'airlock.db');
  const columns = 'method, host, port, status, bytes_up, bytes_down, decision, reason, credentials_doc, original_destination';
  const template = (where) => {
    const [row] = JSON.parse(sqlite(file, `SELECT ${columns} FROM egress WHERE ${where} ORDER BY seq DESC LIMIT 1;`, ['-json']) || '[]');
    if (!row) throw new Error(`no egress row where ${where} to copy`);
    return row;
  };
  const shapes = [template("credentials_doc <> '[]'"), template("credentials_doc = '[]'")];
  const pick = (key) => `CASE n.i % 2 WHEN 0 THEN ${sqlText(shapes[0][key])} ELSE ${sqlText(shapes[1][key])} END`;
  // Of every ten rows, kBigShare go to the first session, the others round the rest.
  const owner = (r) => (r < kBigShare || sessions.length === 1 ? 0 : 1 + ((r - kBigShare) % (sessions.length - 1)));
  const sessionCase = `CASE n.i % 10 ${Array.from({ length: 10 }, (_, r) => `WHEN ${r} THEN ${sqlText(sessions[owner(r)].id)}`).join(' ')} END`;
  const perSession = new Map(sessions.map((s) => [s.id, 0]));
  for (let r = 0; r < 10; r += 1) {
    const id = sessions[owner(r)].id;
    perSession.set(id, perSession.get(id) + Math.floor(rows / 10) + (r < rows % 10 ? 1 : 0));
  }
  const now = Date.now() / 1000;
  const from = now - days * 86_400;
  const step = (days * 86_400) / rows;

  sqlite(file, 'PRAGMA journal_mode = DELETE;');
  for (let low = 0; low < rows; low += kSeedChunk) {
    const high = Math.min(rows, low + kSeedChunk) - 1;
    const started = performance.now();
    sqlite(file, `PRAGMA synchronous = OFF;
PRAGMA cache_size = -262144;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT ${low} UNION ALL SELECT i + 1 FROM n WHERE i < ${high})
INSERT INTO egress (id, session_id, created_at, path, ${columns})
SELECT 'egr_01' || printf('%010d', n.i) || upper(hex(randomblob(6))),
       ${sessionCase},
       strftime('%Y-%m-%dT%H:%M:%f', ${from} + n.i * ${step}, 'unixepoch') || printf('%03dZ', n.i % 1000),
       '/' || CASE n.i % 2 WHEN 0 THEN 'a' ELSE 'p' END || '/' || (n.i % 64) || '/' || (n.i / 64),
       ${columns.split(', ').map(pick).join(',\n       ')}
FROM n;
COMMIT;
`);
    log(`  seeded ${(high + 1).toLocaleString('en-US')} of ${rows.toLocaleString('en-US')} rows ` +
        `(${((high + 1 - low) / ((performance.now() - started) / 1000)).toFixed(0)} rows/s)`);
  }
  sqlite(file, 'PRAGMA journal_mode = WAL;');
  return perSession;
}

// The cursor GET .../egress hands out as next_page (encode_cursor: created_at, a newline, the seq; base64url)
// for the row of `session` at `offset` from its start or, negative, from its end.
function cursorAt(dataDir, session, offset) {
  const order = offset < 0 ? 'DESC' : 'ASC';
  const [row] = JSON.parse(sqlite(path.join(dataDir, 'airlock.db'),
    `SELECT seq, created_at FROM egress WHERE session_id = ${sqlText(session)} ORDER BY seq ${order} LIMIT 1 OFFSET ${Math.abs(offset)};`,
    ['-readonly', '-json']) || '[]');
  if (!row) throw new Error(`session ${session} has no row at ${offset}`);
  return Buffer.from(`${row.created_at}\n${row.seq}`).toString('base64url');
}

// `count` GETs of `pathname`, one at a time: latencies (ms, sorted) and the rows of the last page.
async function timeGets(daemon, pathname, count) {
  const ms = [];
  let rows = 0;
  for (let i = 0; i < count; i += 1) {
    const sent = performance.now();
    const { status, text } = await call(daemon, 'GET', pathname);
    ms.push(performance.now() - sent);
    if (status !== 200) throw new Error(`GET ${pathname}: ${status} ${text.slice(0, 200)}`);
    rows = JSON.parse(text).data.length;
  }
  return { ms: ms.sort((a, b) => a - b), rows };
}

// ---- the run --------------------------------------------------------------------------------------------

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const { makeTempDir, randomApiKey, start } = await import('../../tests/sdk/lib/daemon.mjs');
  const { makeOriginCertificates } = await import('../../tests/sdk/lib/origin.mjs');
  const tmp = makeTempDir('airlock-audit-');
  const cleanups = [];
  try {
    return await run(options, tmp, cleanups, { start, randomApiKey, makeOriginCertificates });
  } finally {
    for (const fn of cleanups.reverse()) {
      try { await fn(); } catch { /* best effort */ }
    }
    if (!options.keep) fs.rmSync(tmp, { recursive: true, force: true });
    else console.log(`kept ${tmp}`);
  }
}

async function run(options, tmp, cleanups, { start, randomApiKey, makeOriginCertificates }) {
  const log = (line) => console.log(line);
  const { origin, secret, daemonArgs } = await prepareOrigin(tmp, options.originWorkers, makeOriginCertificates, cleanups);

  // The same daemon (data dir, API key, flags) for both lives.
  const dataDir = path.join(tmp, 'data');
  const apiKey = randomApiKey();
  let daemon = null;
  const boot = async () => {
    daemon = await start({ dataDir, apiKey, args: daemonArgs });
    return daemon;
  };
  const stop = async () => {
    const status = await daemon.stop();
    if (status.code !== 0) throw new Error(`the daemon stopped with ${JSON.stringify(status)}`);
  };
  cleanups.push(async () => { if (daemon) await daemon.kill('SIGKILL'); });
  const binary = process.env.AIRLOCK_BIN || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../build/airlock');
  log(`airlock ${binary} (built ${fs.statSync(binary).mtime.toISOString()}); ${os.cpus().length} CPUs, load average ${loadAverage()}`);

  // 1. Full rate on a fresh database.
  await boot();
  const { sessions, secureContext } = await createSessions(daemon, options.sessions, secret);
  const context = { daemon, sessions, secureContext, origin, options };
  await delay(1_000);
  const sizeBefore = databaseSize(dataDir);
  log(`full rate: ${options.connections} connections over ${options.sessions} sessions for ${options.seconds} s (proxy ${daemon.proxyAddress})`);
  const fresh = await drive(context, options.seconds, log);
  const sizeAfter = databaseSize(dataDir);
  // The daemon's errors, and its warnings about the audit.
  const warnings = () => daemon.log().split('\n').filter((line) => / error /.test(line) || / warn .*audit/.test(line));
  const freshWarnings = warnings();
  await stop();

  const report = { fresh, sizeBefore, sizeAfter, freshWarnings };
  if (options.rows > 0) {
    // 2. Seeding, the daemon stopped.
    log(`seeding ${options.rows.toLocaleString('en-US')} rows over the last ${options.seedDays} days (sqlite3 CLI)`);
    const seedStart = performance.now();
    const perSession = seed(dataDir, sessions, options.rows, options.seedDays, log);
    report.seedSeconds = (performance.now() - seedStart) / 1000;
    report.sizeSeeded = databaseSize(dataDir);
    report.perSession = perSession;

    // 3. Restart, full rate while the retention purge runs, then the egress pages.
    const bootStart = performance.now();
    await boot();
    const readyAt = performance.now();
    report.readySeconds = (readyAt - bootStart) / 1000;
    context.daemon = daemon;
    // The purge runs on the control thread as it starts: the first answer waits for it, and so does the first
    // sample of the load, whose connections open and send meanwhile (the proxy has threads of its own).
    const firstAnswer = scrape(daemon).then((s) => ({ ...s, afterReady: (performance.now() - readyAt) / 1000 }));
    if (options.loadedSeconds > 0) {
      log(`full rate on the seeded database for ${options.loadedSeconds} s (the retention purge runs at start)`);
      report.loaded = await drive(context, options.loadedSeconds, log);
    }
    report.firstAnswer = await firstAnswer;
    report.purgedAtStart = (await scrape(daemon)).purged;

    const [big, small] = [sessions[0], sessions[1] ?? sessions[0]];
    const bigRows = perSession.get(big.id);
    const pages = [
      [`first page, default limit`, `/v1/sessions/${big.id}/egress`],
      [`first page, limit=1000`, `/v1/sessions/${big.id}/egress?limit=1000`],
      [`middle page, limit=1000`, `/v1/sessions/${big.id}/egress?limit=1000&page=${cursorAt(dataDir, big.id, Math.floor(bigRows / 2))}`],
      [`1,000 rows from the end, limit=1000`, `/v1/sessions/${big.id}/egress?limit=1000&page=${cursorAt(dataDir, big.id, -1001)}`],
    ];
    if (small !== big) pages.push([`small session, first page, default limit`, `/v1/sessions/${small.id}/egress`]);
    log(`GET /v1/sessions/{id}/egress: ${options.requests} requests per page`);
    report.pages = [];
    for (const [label, pathname] of pages) {
      report.pages.push({ label, ...(await timeGets(daemon, pathname, options.requests)) });
    }
    report.big = { id: big.id, rows: bigRows };
    report.small = { id: small.id, rows: perSession.get(small.id) };
    report.seededWarnings = warnings();
    await stop();
  }
  daemon = null;
  return printReport(options, report);
}

function loadAverage() {
  return os.loadavg().map((l) => l.toFixed(1)).join(' ');
}

// ---- the report -----------------------------------------------------------------------------------------

const int = (n) => Math.round(n).toLocaleString('en-US');
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

function printReport(options, r) {
  const lines = ['', `== Airlock audit bench: ${options.connections} connections, ${options.sessions} sessions ==`];
  const row = (label, ...cells) => lines.push(`${label.padEnd(48)}${cells.map((c) => String(c).padEnd(24)).join('')}`.trimEnd());
  const runs = [['fresh database', r.fresh]];
  if (r.loaded) runs.push([`${int(options.rows)} rows stored`, r.loaded]);
  const each = (f) => runs.map(([, run]) => f(run));
  row('full rate', ...runs.map(([name]) => name));
  row('load', ...each((x) => `${x.seconds.toFixed(1)} s`));
  row('proxy requests/s: mean, least 1 s window', ...each((x) => `${int(x.requestsPerSecond)}, ${int(x.minRequestsPerSecond)}`));
  row('audit rows written/s: mean, least 1 s window', ...each((x) => `${int(x.rowsPerSecond)}, ${int(x.minRowsPerSecond)}`));
  row('audit queue depth: max, mean (1 s samples)', ...each((x) => `${int(x.queueMax)}, ${int(x.queueMean)}`));
  row('rows per batch (mean)', ...each((x) => int(x.rowsPerBatch)));
  row('slowest GET /metrics', ...each((x) => `${x.slowestScrapeMs.toFixed(0)} ms`));
  row('exchanges, rows written (daemon life)', ...each((x) => `${int(x.exchanges)}, ${int(x.written)}`));
  row('dropped rows (daemon life)', ...each((x) => int(x.dropped)));
  row('lost rows (daemon life)', ...each((x) => int(x.lost)));
  row('rows purged (daemon life)', ...each((x) => int(x.purged)));
  row('client: errors, non-2xx', ...each((x) => `${int(x.client.errors)}, ${int(x.client.non2xx)}`));

  const grown = r.sizeAfter.used - r.sizeBefore.used;
  lines.push('');
  lines.push(`database growth   ${mb(grown)} of pages in use for ${int(r.fresh.written)} rows: ` +
             `${mb((grown / Math.max(1, r.fresh.written)) * 1e6)} per million exchanges ` +
             `(file and WAL: ${mb(r.sizeBefore.file)} -> ${mb(r.sizeAfter.file)})`);
  if (r.sizeSeeded) {
    const seeded = r.sizeSeeded.used - r.sizeAfter.used;
    lines.push(`seeding           ${int(options.rows)} rows in ${r.seedSeconds.toFixed(0)} s; ` +
               `${[...r.perSession.values()].map(int).join(' + ')} rows per session; ${mb(seeded)} more pages in use ` +
               `(${mb((seeded / options.rows) * 1e6)} per million); database ${mb(r.sizeSeeded.file)}`);
    lines.push(`restart           ready in ${r.readySeconds.toFixed(2)} s; first API answer ${r.firstAnswer.afterReady.toFixed(2)} s ` +
               `after ready (${int(r.firstAnswer.purged)} rows purged by then); the retention purge at start deleted ${int(r.purgedAtStart)} rows`);
    lines.push(`GET /v1/sessions/{id}/egress, ${options.requests} requests each (ms)    p50       p99       max   rows`);
    for (const page of r.pages) {
      const f = (v) => v.toFixed(1).padStart(9);
      lines.push(`  ${page.label.padEnd(62)}${f(percentile(page.ms, 0.5))}${f(percentile(page.ms, 0.99))}${f(page.ms.at(-1))}  ${String(page.rows).padStart(5)}`);
    }
    lines.push(`  (big session ${int(r.big.rows)} rows, small session ${int(r.small.rows)} rows, of ${int(options.rows)} seeded)`);
  }
  const logged = [...r.freshWarnings, ...(r.seededWarnings ?? [])];
  if (logged.length) lines.push(`daemon log        ${logged.length} error or audit warning line(s), first: ${logged.slice(0, 3).join(' | ')}`);
  lines.push(`machine           ${os.cpus().length} CPUs, load average at the end ${loadAverage()}`);

  const failures = [];
  for (const [name, run] of runs) {
    if (run.dropped > 0) failures.push(`${name}: ${int(run.dropped)} audit rows dropped (queue full)`);
    if (run.lost > 0) failures.push(`${name}: ${int(run.lost)} audit rows lost (batches the store failed to write)`);
    if (run.written + run.dropped + run.lost !== run.exchanges) {
      failures.push(`${name}: ${int(run.written)} rows written for ${int(run.exchanges)} exchanges`);
    }
  }
  lines.push(failures.length ? `FAIL              ${failures.join('; ')}` : 'PASS              no audit row dropped or lost');
  console.log(lines.join('\n'));
  return failures.length ? 1 : 0;
}
