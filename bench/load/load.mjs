// Load test: N concurrent intercepted keep-alive connections through a real `airlock serve`, each sending
// GETs back to back for S seconds to a local HTTPS origin; then checks that nothing failed, that the
// daemon's memory stayed flat and its descriptors came back, and that every exchange was audited.
//
// Usage: node bench/load/load.mjs [--connections N] [--seconds S] [--sessions K] [--warmup W]
//          [--origin-workers W] [--think MS] [--keep] [--verbose]
// (bench/load/run.sh raises the descriptor limit first.) Exit code 0 only when every check passes.
//
// Layout: this process is the client (all N connections, one event loop) and the cluster primary; the
// origin runs in --origin-workers (3) cluster workers of this same file, which accept for themselves (one
// origin process falls behind accepting the proxy's upstream connections on a busy 2-core machine). The
// daemon gets loopback listeners, a temp data dir, the origin's CA (--upstream-ca), load.test resolved to
// 127.0.0.1 (--resolve) and 127.0.0.1/32 opened (--allow-private). The connections are spread over K
// sessions so each stays under the default proxy.max_connections_per_session (256); the only key the
// YAML changes is proxy.max_requests_per_second_per_session (0: off): the loop is unpaced, and a 429 from
// the session rate limiter would say nothing about the proxy under load.
//
// Every other request carries the session's placeholder in `Authorization: Bearer`; the origin checks it
// received the real secret there (and no Authorization on the others) and echoes the header back, which
// the proxy must redact to the placeholder again. --think MS pauses between requests; --verbose prints
// every error as it happens; --keep keeps the temp dir.
import cluster from 'node:cluster';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import {
  Connection, api, createSessions, delay, kHost, kMismatchHeader, kSecretName, prepareOrigin, runOriginWorker,
} from './common.mjs';

const kFdTolerance = 4;            // descriptors after everything closed may exceed the baseline by this
const kRssGrowthLimit = 1.5;       // RSS at the end may be at most this times RSS after warm-up
const kSettleMs = 20_000;          // how long descriptors may take to come back once everything closed

if (cluster.isWorker) {
  runOriginWorker();
} else {
  main().then((code) => process.exit(code), (error) => {
    console.error(`load: ${error.message || error}`);
    process.exit(2);
  });
}

// ---- primary: options, daemon, API ----------------------------------------------------------------------

function parseArgs(argv) {
  const options = { connections: 1000, seconds: 60, sessions: 8, warmup: 10, originWorkers: 3, think: 0, keep: false, verbose: false };
  const numeric = { '--connections': 'connections', '--seconds': 'seconds', '--sessions': 'sessions',
                    '--warmup': 'warmup', '--origin-workers': 'originWorkers', '--think': 'think' };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--keep') { options.keep = true; continue; }
    if (arg === '--verbose') { options.verbose = true; continue; }
    if (arg === '-h' || arg === '--help') {
      console.log('usage: load.mjs [--connections N] [--seconds S] [--sessions K] [--warmup W] [--origin-workers W] [--think MS] [--keep] [--verbose]');
      process.exit(0);
    }
    const [flag, inline] = arg.split('=', 2);
    const key = numeric[flag];
    const value = Number(inline ?? argv[++i]);
    if (!key || !Number.isInteger(value) || value < (key === 'think' ? 0 : 1)) throw new Error(`bad argument ${arg} (see --help)`);
    options[key] = value;
  }
  if (options.warmup >= options.seconds) options.warmup = Math.max(1, Math.floor(options.seconds / 6));
  return options;
}

// VmRSS of `pid`, in KiB.
function procStatus(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: Number((text.match(/^VmRSS:\s+(\d+) kB/m) || [])[1] || 0) };
}
// TcpExt ListenOverflows of this network namespace: connections dropped because an accept queue was full
// (anyone's: other programs on the machine count too).
function listenOverflows() {
  try {
    const lines = fs.readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
    const names = lines[0].split(/\s+/);
    const values = lines[1].split(/\s+/);
    return Number(values[names.indexOf('ListenOverflows')]);
  } catch {
    return NaN;
  }
}
const openFds = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;  // utime + stime, in clock ticks of 1/100 s
}

// ---- the run --------------------------------------------------------------------------------------------

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const perSession = Math.ceil(options.connections / options.sessions);
  if (perSession > 256) {
    throw new Error(`${options.connections} connections over ${options.sessions} sessions is ${perSession} per session, over ` +
                    'the default proxy.max_connections_per_session (256): pass more --sessions');
  }
  const { makeTempDir, start } = await import('../../tests/sdk/lib/daemon.mjs');
  const { makeOriginCertificates } = await import('../../tests/sdk/lib/origin.mjs');

  const tmp = makeTempDir('airlock-load-');
  const cleanups = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) {
      try { await fn(); } catch { /* best effort */ }
    }
    if (!options.keep) fs.rmSync(tmp, { recursive: true, force: true });
    else console.log(`kept ${tmp}`);
  };
  try {
    return await run(options, tmp, cleanups, start, makeOriginCertificates);
  } finally {
    await cleanup();
  }
}

async function run(options, tmp, cleanups, start, makeOriginCertificates) {
  const log = (line) => console.log(line);
  const { origin, secret, daemonArgs } = await prepareOrigin(tmp, options.originWorkers, makeOriginCertificates, cleanups);
  const daemon = await start({ dataDir: path.join(tmp, 'data'), args: daemonArgs });
  let daemonStopped = false;
  cleanups.push(async () => { if (!daemonStopped) await daemon.kill('SIGKILL'); });
  let daemonExit = null;
  daemon.exited.then((status) => { daemonExit = status; });
  const pid = daemon.pid;
  const [proxyHost, proxyPort] = daemon.proxyAddress.split(':');
  const binary = process.env.AIRLOCK_BIN || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../build/airlock');
  log(`airlock ${binary} (built ${fs.statSync(binary).mtime.toISOString()})`);
  log(`airlock pid ${pid}, proxy ${daemon.proxyAddress}; origin https://${kHost}:${origin.port} (${options.originWorkers} worker(s)); ` +
      `${options.connections} connections over ${options.sessions} sessions, ${options.seconds} s (warm-up ${options.warmup} s)`);

  const { sessions, secureContext } = await createSessions(daemon, options.sessions, secret);

  await delay(1_000);
  const logOffset = daemon.log().length;
  const fdBefore = openFds(pid);
  const rssBefore = procStatus(pid).rss;

  // Counters.
  const counts = { completed: 0, ok: 0, withPlaceholder: 0, failedInFlight: 0, closedAfterResponse: 0 };
  const errors = { connection: new Map(), status: new Map(), mismatch: 0, redaction: 0 };
  const samplesOfErrors = [];
  const bump = (map, key) => map.set(key, (map.get(key) || 0) + 1);
  const runStart = Date.now();
  const noteError = (text) => {
    const line = `t=${((Date.now() - runStart) / 1000).toFixed(1)} s ${text.trim()}`;
    if (options.verbose) console.log(`  error: ${line}`);
    if (samplesOfErrors.length < 10) samplesOfErrors.push(line);
  };

  // Samples, every second, from the first connection on.
  const samples = [];
  let phase = 'ramp';
  let loadStart = 0;
  const connections = [];
  const openNow = () => connections.reduce((n, c) => n + (c.socket ? 1 : 0), 0);
  const sample = () => {
    if (daemonExit) return null;
    const status = procStatus(pid);
    const s = { t: Date.now(), phase, rss: status.rss, fds: openFds(pid), completed: counts.completed, open: openNow() };
    samples.push(s);
    return s;
  };
  let lastReport = null;
  // The client's own event-loop stalls (the longest timer delay per report interval).
  let stall = 0;
  let tick = Date.now();
  const stallTimer = setInterval(() => {
    const now = Date.now();
    stall = Math.max(stall, now - tick - 100);
    tick = now;
  }, 100);
  cleanups.push(() => clearInterval(stallTimer));
  const sampler = setInterval(async () => {
    const s = sample();
    if (!s || phase !== 'load' || !lastReport || s.t - lastReport.t < 9_500) return;
    const elapsed = Math.round((s.t - loadStart) / 1000);
    const rate = Math.round((s.completed - lastReport.completed) / ((s.t - lastReport.t) / 1000));
    const previous = lastReport;
    lastReport = s;
    const maxStall = stall;
    stall = 0;
    s.originConnections = (await origin.stats()).connections;
    const opened = s.originConnections - (previous.originConnections ?? s.originConnections);
    log(`  t=${String(elapsed).padStart(3)} s  ${String(rate).padStart(5)} req/s  open ${String(s.open).padStart(4)}  ` +
        `daemon RSS ${mib(s.rss)}  fds ${s.fds}  upstream connections opened ${opened}  client stall max ${maxStall} ms`);
  }, 1_000);
  cleanups.push(() => clearInterval(sampler));

  let stopping = false;
  async function exchange(connection) {
    const withPlaceholder = (connection.id + connection.sent) % 2 === 0;
    let response;
    try {
      response = await connection.request(withPlaceholder);
    } catch (error) {
      counts.failedInFlight += 1;
      bump(errors.connection, error.kind || 'error');
      noteError(`connection ${connection.id} (request ${connection.sent}, opened at t=${((connection.openedAt - runStart) / 1000).toFixed(1)} s): ` +
                `${error.kind}: ${error.message}`);
      connection.destroy();
      return;
    }
    counts.completed += 1;
    if (withPlaceholder) counts.withPlaceholder += 1;
    if (/\bclose\b/i.test(response.headers.connection || '')) {
      counts.closedAfterResponse += 1;  // the proxy said so (after a refusal or an upstream error): open anew
      connection.destroy();
    }
    if (response.headers[kMismatchHeader]) {
      errors.mismatch += 1;
      noteError(`connection ${connection.id}: origin saw a mismatch`);
    } else if (response.status < 200 || response.status > 299) {
      bump(errors.status, response.status);
      noteError(`connection ${connection.id}: ${response.status} ${response.headers['x-airlock-refusal'] || ''} ${response.body.toString('latin1').slice(0, 120)}`);
    } else {
      const expected = `ok ${withPlaceholder ? `Bearer ${connection.session.placeholder}` : '-'}\n`;
      const body = response.body.toString('latin1');
      if (!body.startsWith(expected) || body.includes(secret)) {
        errors.redaction += 1;
        noteError(`connection ${connection.id}: body ${JSON.stringify(body.slice(0, 80))}`);
      } else {
        counts.ok += 1;
      }
    }
  }
  async function ensureOpen(connection) {
    while (!connection.socket && !stopping) {
      try {
        await connection.open();
        return true;
      } catch (error) {
        bump(errors.connection, error.kind || 'connect_error');
        noteError(`connection ${connection.id}: ${error.kind}: ${error.message}`);
        await delay(250);
      }
    }
    return Boolean(connection.socket);
  }

  // The proxy closing a connection with no request in flight is an error too (nothing here idles for long).
  const onIdleClose = (id) => () => {
    bump(errors.connection, 'closed_by_proxy_idle');
    noteError(`connection ${id}: closed by the proxy between requests`);
  };

  // Ramp: open every connection (at most 64 CONNECT + TLS handshakes at a time); each starts its request
  // loop as soon as it is open, so none idles while the others open.
  const rampStart = Date.now();
  const overflowsBefore = listenOverflows();
  for (let i = 0; i < options.connections; i += 1) {
    connections.push(new Connection(i, sessions[i % sessions.length], { host: proxyHost, port: Number(proxyPort) },
                                    origin.port, secureContext));
    connections.at(-1).onIdleClose = onIdleClose(i);
  }
  const loops = [];
  const loop = async (connection) => {
    while (!stopping) {
      if (!(await ensureOpen(connection))) break;
      await exchange(connection);
      // --think: a pause between requests (±5 ms), for clients that are not back to back.
      if (options.think > 0 && !stopping) await delay(Math.max(0, options.think - 5 + Math.random() * 10));
    }
  };
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(64, connections.length) }, async () => {
    while (next < connections.length) {
      const connection = connections[next++];
      if (await ensureOpen(connection)) loops.push(loop(connection));
    }
  }));
  const rampSeconds = (Date.now() - rampStart) / 1000;
  log(`ramp: ${openNow()} connections open in ${rampSeconds.toFixed(1)} s`);

  // Load: every connection sends requests back to back for S seconds from now.
  phase = 'load';
  loadStart = Date.now();
  const clientLag = monitorEventLoopDelay({ resolution: 20 });
  clientLag.enable();
  const clientCpuStart = process.cpuUsage();
  const cpuAtLoadStart = cpuSeconds(pid);
  const originAtStart = await origin.stats();
  lastReport = sample();
  lastReport.originConnections = (await origin.stats()).connections;
  stall = 0;
  const completedAtStart = counts.completed;
  let warm = null;
  const warmTimer = setTimeout(() => { warm = sample(); }, options.warmup * 1000);
  await delay(options.seconds * 1000);
  const loadSeconds = (Date.now() - loadStart) / 1000;
  const loadRequests = counts.completed - completedAtStart;
  stopping = true;
  clearTimeout(warmTimer);
  clientLag.disable();
  const cpuAfterLoad = cpuSeconds(pid);
  const clientCpu = process.cpuUsage(clientCpuStart);
  const originAtEnd = await origin.stats();
  await Promise.all(loops);
  phase = 'idle';
  await delay(1_000);
  const end = sample();
  const duringLoad = samples.filter((s) => s.phase === 'load');
  const minOpen = Math.min(...duringLoad.map((s) => s.open));
  log(`load: ${loadRequests} requests in ${loadSeconds.toFixed(1)} s; connections open during the load: min ${minOpen}`);

  // Close: clients first (close_notify + FIN), then the origin closes its idle keep-alive connections
  // (the proxy's pooled upstream connections).
  phase = 'closing';
  const openAtClose = openNow();
  await Promise.all(connections.map((connection) => connection.close()));
  await delay(2_000);
  const fdAfterClients = openFds(pid);
  const originMid = await origin.stats();
  await origin.closeIdle();
  const settleStart = Date.now();
  let fdAfter = openFds(pid);
  while (fdAfter > fdBefore + kFdTolerance && Date.now() - settleStart < kSettleMs && !daemonExit) {
    await delay(500);
    fdAfter = openFds(pid);
  }
  const settleSeconds = (Date.now() - settleStart) / 1000;
  await delay(1_000);
  fdAfter = openFds(pid);
  const after = sample();
  clearInterval(sampler);
  const originStats = await origin.stats();
  const overflowsAfter = listenOverflows();

  // Audit: every exchange has a row. The writer flushes every 250 ms; give it a few seconds.
  const expected = counts.completed;
  let audit = null;
  for (let attempt = 0; attempt < 4; attempt += 1) {
    await delay(attempt === 0 ? 2_000 : 3_000);
    audit = await countEgress(daemon, sessions);
    if (audit.total === expected) break;
  }

  const fileSize = (name) => { try { return fs.statSync(path.join(daemon.dataDir, name)).size; } catch { return 0; } };
  const dbBytes = fileSize('airlock.db');
  const walBytes = fileSize('airlock.db-wal');
  const newLog = daemon.log().slice(logOffset).split('\n').filter((line) => / (warn|error) /.test(line));
  const stop = await daemon.stop().catch((error) => ({ error: error.message }));
  daemonStopped = true;

  // ---- report ----
  const peakRss = Math.max(...samples.map((s) => s.rss));
  const peakFds = Math.max(...samples.map((s) => s.fds));
  const connectionErrors = [...errors.connection.values()].reduce((a, b) => a + b, 0);
  const statusErrors = [...errors.status.values()].reduce((a, b) => a + b, 0);
  const totalErrors = connectionErrors + statusErrors + errors.mismatch + errors.redaction + originStats.mismatches;
  const cpu = cpuAfterLoad - cpuAtLoadStart;
  const lines = [];
  lines.push('');
  lines.push(`== Airlock load: ${options.connections} connections, ${options.sessions} sessions, ${options.seconds} s ==`);
  lines.push(`requests      ${counts.completed} completed (${loadRequests} in the ${loadSeconds.toFixed(1)} s load: ` +
             `${Math.round(loadRequests / loadSeconds)} req/s), ${counts.withPlaceholder} with the placeholder; ` +
             `origin received ${originStats.requests} on ${originStats.connections} connection(s), at most ${originStats.maxOpen} open`);
  lines.push(`concurrency   ${options.connections} opened in ${rampSeconds.toFixed(1)} s; open during the load: min ${minOpen}; at the end ${openAtClose}` +
             (counts.closedAfterResponse ? `; ${counts.closedAfterResponse} closed by a Connection: close response` : ''));
  lines.push(`errors        connection ${connectionErrors}${fmtMap(errors.connection)}, non-2xx ${statusErrors}${fmtMap(errors.status)}, ` +
             `substitution mismatches ${errors.mismatch} (origin counted ${originStats.mismatches}), redaction ${errors.redaction}`);
  lines.push(`daemon RSS    before ${mib(rssBefore)}, after warm-up (${options.warmup} s) ${mib(warm?.rss)}, peak ${mib(peakRss)}, ` +
             `end of load ${mib(end?.rss)}, after close ${mib(after?.rss)}`);
  lines.push(`daemon fds    before ${fdBefore}, peak ${peakFds}, clients closed ${fdAfterClients} ` +
             `(origin had ${originMid.open} open), after everything closed ${fdAfter} (settled in ${settleSeconds.toFixed(1)} s)`);
  lines.push(`CPU           over the load: daemon ${cpu.toFixed(1)} s (${Math.round((cpu / Math.max(1, loadRequests)) * 1e6)} us per request), ` +
             `client ${((clientCpu.user + clientCpu.system) / 1e6).toFixed(1)} s, origin ${(originAtEnd.cpu - originAtStart.cpu).toFixed(1)} s; ` +
             `event-loop delay p99/max: client ${(clientLag.percentile(99) / 1e6).toFixed(0)}/${(clientLag.max / 1e6).toFixed(0)} ms, ` +
             `origin ${originAtEnd.lagP99.toFixed(0)}/${originAtEnd.lagMax.toFixed(0)} ms (whole run); ` +
             `origin TLS handshake (accept to done) p99/max ${originAtEnd.handshakeP99.toFixed(0)}/${originAtEnd.handshakeMax.toFixed(0)} ms, ` +
             `${originStats.unfinishedHandshakes} closed before it finished`);
  lines.push(`machine       ${os.cpus().length} CPUs, load average at the end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; ` +
             `listen queue overflows during the run ${overflowsAfter - overflowsBefore} (machine-wide)`);
  lines.push(`audit         ${audit.total} egress rows for ${expected} completed requests` +
             ` (${fmtObject(audit.decisions)}; statuses ${fmtObject(audit.statuses)}; with the credential in a header ${audit.withCredential}); ` +
             `database ${mib(dbBytes / 1024)} + WAL ${mib(walBytes / 1024)}`);
  if (newLog.length) {
    lines.push(`daemon log    ${newLog.length} warn/error line(s) during the run, first: ${newLog.slice(0, 3).join(' | ')}`);
  }
  lines.push(`daemon exit   ${stop.error ? stop.error : `code ${stop.code}${stop.signal ? ` signal ${stop.signal}` : ''}`}`);
  if (samplesOfErrors.length) lines.push(`first errors  ${samplesOfErrors.join('\n              ')}`);
  if (originStats.samples.length) lines.push(`origin saw    ${originStats.samples.join('\n              ')}`);

  const failures = [];
  if (daemonExit && !daemonStopped) failures.push(`the daemon exited during the run (${JSON.stringify(daemonExit)})`);
  if (stop.error || stop.code !== 0) failures.push(`the daemon did not stop cleanly (${stop.error || `code ${stop.code}`})`);
  if (totalErrors > 0) failures.push(`${totalErrors} error(s)`);
  if (minOpen < options.connections) failures.push(`only ${minOpen} of ${options.connections} connections were open at some point of the load`);
  // Every exchange goes to the origin (nothing is refused), so both ends count the same.
  if (originStats.requests !== counts.completed) failures.push(`the origin received ${originStats.requests} requests, the clients completed ${counts.completed}`);
  if (fdAfter > fdBefore + kFdTolerance) failures.push(`descriptor leak: ${fdBefore} before, ${fdAfter} after everything closed (tolerance ${kFdTolerance})`);
  if (!warm || !end) failures.push('missing RSS samples');
  else if (end.rss > kRssGrowthLimit * warm.rss) failures.push(`memory grew: RSS ${mib(end.rss)} at the end > ${kRssGrowthLimit} x ${mib(warm.rss)} after warm-up`);
  if (audit.total !== expected) failures.push(`audit: ${audit.total} egress rows for ${expected} completed requests`);
  if (audit.decisions.allowed !== audit.total) failures.push(`audit: rows other than allowed: ${fmtObject(audit.decisions)}`);
  if (audit.withCredential !== counts.withPlaceholder) {
    failures.push(`audit: ${audit.withCredential} rows name the credential, ${counts.withPlaceholder} requests carried the placeholder`);
  }

  lines.push(failures.length ? `FAIL          ${failures.join('; ')}` : 'PASS');
  console.log(lines.join('\n'));
  if (failures.length) {
    const tail = daemon.log().slice(logOffset).split('\n').filter((line) => line && !line.includes(' info request method='));
    console.log(`--- airlock log since the first connection, API request lines left out (last 40) ---\n${tail.slice(-40).join('\n')}`);
  }
  return failures.length ? 1 : 0;
}

// Pages through GET /v1/sessions/{id}/egress (limit 1000) for every session.
async function countEgress(daemon, sessions) {
  const result = { total: 0, decisions: {}, statuses: {}, withCredential: 0 };
  for (const session of sessions) {
    let page = null;
    do {
      const query = `limit=1000${page ? `&page=${encodeURIComponent(page)}` : ''}`;
      const body = await api(daemon, 'GET', `/v1/sessions/${session.id}/egress?${query}`);
      for (const row of body.data) {
        result.total += 1;
        result.decisions[row.decision] = (result.decisions[row.decision] || 0) + 1;
        result.statuses[row.status] = (result.statuses[row.status] || 0) + 1;
        if (row.credentials?.some((c) => c.secret_name === kSecretName && c.location === 'header')) result.withCredential += 1;
      }
      page = body.next_page;
    } while (page);
  }
  return result;
}

function mib(kib) {
  return kib === undefined || kib === null ? '?' : `${(kib / 1024).toFixed(1)} MiB`;
}
function fmtMap(map) {
  return map.size ? ` (${[...map].map(([k, v]) => `${k}: ${v}`).join(', ')})` : '';
}
function fmtObject(object) {
  return Object.entries(object).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';
}
