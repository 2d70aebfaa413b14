// What runtime.test.mjs and runtime-lifecycle.test.mjs share: the bubblewrap probe that decides whether
// they can run at all, harness entries for the scripts in tests/sdk/harnesses, a daemon started with a
// runtime.* config (YAML, written as JSON, which YAML accepts) that trusts the test origin's CA and maps
// metrics.test to 127.0.0.1, and bounded polls for a session's harness to end.
//
// Those scripts are bind-mounted read-only into each sandbox (read_only_paths), so they run from the
// same absolute path inside it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test as nodeTest } from 'node:test';
import { fileURLToPath } from 'node:url';

import { makeTempDir, randomApiKey, start } from './daemon.mjs';
import { Anthropic, collect, rawRequest } from './harness.mjs';

export const kHarnessDir = fs.realpathSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'harnesses'));

// States of GET /v1/sessions/{id}/runtime after which the harness will not run again.
const kEndStates = new Set(['exited', 'failed', 'out_of_memory', 'timed_out', 'stopped', 'lost']);
const kPollMs = 50;
export const kEndTimeoutMs = 20_000;

export const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// runtime.sandbox_uid_base's default. A root daemon runs the sandbox in slot N as uid/gid base+1+N with the
// group base (SECURITY.md N6); any other daemon runs sandboxes as its own uid.
export const kSandboxUidBase = 2000000000;
export const runsAsRoot = process.getuid() === 0;

// node:test's test(), skipped with the reason where sandboxes cannot start; `failed` turns true when a
// test fails (the files keep their daemons' data dirs then).
// `otherReason`: a reason of the file's own to skip (null: none).
// In CI (CI=true) the machine is expected to run them: a reason to skip fails every test instead.
export function sandboxSuite(otherReason = null) {
  const suite = { skipReason: sandboxUnavailable() ?? otherReason, failed: false };
  if (suite.skipReason && process.env.CI === 'true') {
    const why = suite.skipReason;
    suite.skipReason = null;
    suite.test = (name) => nodeTest(name, () => assert.fail(`cannot run here (CI=true makes that a failure): ${why}`));
    return suite;
  }
  suite.test = (name, fn) => nodeTest(name, { skip: suite.skipReason ?? false }, async (t) => {
    try {
      await fn(t);
    } catch (err) {
      suite.failed = true;
      throw err;
    }
  });
  return suite;
}

// Why sandboxes cannot start on this machine, or null when they can: the smallest bubblewrap command
// with the namespaces and identity the runtime uses.
export function sandboxUnavailable() {
  const bwrap = [
    'bwrap', '--unshare-all', '--uid', '65534', '--gid', '65534', '--cap-drop', 'ALL',
    '--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib',
    '--symlink', 'usr/lib64', '/lib64', '/bin/true',
  ];
  // As the daemon starts it: a root daemon starts bubblewrap as a sandbox uid, which needs unprivileged
  // user namespaces.
  const uid = kSandboxUidBase + 1;
  const [command, ...args] = runsAsRoot
    ? ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, `--groups=${kSandboxUidBase}`, ...bwrap]
    : bwrap;
  const probe = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 });
  if (probe.error) {
    if (probe.error.code === 'ENOENT') return `${command} is not installed or not on PATH`;
    return `bubblewrap could not be run: ${probe.error.message}`;
  }
  if (probe.status !== 0) {
    const why = probe.stderr.trim() || `exit status ${probe.status}, signal ${probe.signal}`;
    return `bubblewrap cannot create namespaces here: ${why}`;
  }
  return null;
}

// A runtime.harnesses entry running `/bin/sh <this directory>/<script> ...args`.
export function harness(script, { args = [], ...settings } = {}) {
  return {
    command: ['/bin/sh', path.join(kHarnessDir, script), ...args],
    read_only_paths: [kHarnessDir],
    ...settings,
  };
}

export function userMessage(...texts) {
  return { type: 'user.message', content: texts.map((text) => ({ type: 'text', text })) };
}

// The text of each agent.message event, in order.
export function messageTexts(events) {
  return events.filter((e) => e.type === 'agent.message').map((e) => e.content.map((block) => block.text).join(''));
}

// The values of the harness's "<label>: value" lines.
export function labelled(events, label) {
  const prefix = `${label}: `;
  return messageTexts(events).filter((text) => text.startsWith(prefix)).map((text) => text.slice(prefix.length));
}

export function single(events, label) {
  const values = labelled(events, label);
  assert.equal(values.length, 1, `exactly one "${label}:" line, got ${JSON.stringify(values)}`);
  return values[0];
}

// Host processes whose environment carries AIRLOCK_SESSION_ID=<id>: that session's relay and harness.
export function hostProcessesOf(sessionId) {
  const needle = `AIRLOCK_SESSION_ID=${sessionId}`;
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let environ;
    try {
      environ = fs.readFileSync(`/proc/${entry}/environ`, 'latin1');
    } catch {
      continue;  // gone, or not ours to read
    }
    if (environ.split('\0').includes(needle)) found.push(Number(entry));
  }
  return found;
}

// The host uids (real, effective, saved, file system) of that session's relay and harness processes.
export function hostUidsOf(sessionId) {
  const uids = new Set();
  for (const pid of hostProcessesOf(sessionId)) {
    try {
      const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'));
      for (const uid of line.split(/\s+/).slice(1)) uids.add(Number(uid));
    } catch {
      // gone meanwhile
    }
  }
  return [...uids].sort((a, b) => a - b);
}

// Polls `fn` until it returns a truthy value (returned), failing after `timeoutMs`.
export async function until(what, fn, { timeoutMs = kEndTimeoutMs, intervalMs = kPollMs } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(intervalMs);
  }
}

// A daemon on a fresh data dir whose config file (DATA_DIR/airlock.yaml unless `configFile` says where)
// holds `config`. `resolve`: more --resolve HOST:ADDRESS entries (metrics.test always maps to 127.0.0.1).
export class RuntimeDaemon {
  constructor({
    config, originCa, rec, env = {}, apiKey = randomApiKey(), dataDir = makeTempDir('airlock-runtime-'), configFile,
    resolve = [],
  }) {
    this.config = config;
    this.originCa = originCa;
    this.rec = rec;
    this.env = env;
    this.resolve = resolve;
    this.apiKey = apiKey;
    this.dataDir = dataDir;
    this.configFile = configFile ?? path.join(dataDir, 'airlock.yaml');
    this.daemon = null;
    this.daemons = [];
    this.client = null;
  }

  // `airlock serve` with this config: the flags start() and startExpectingFailure() take.
  serveOptions(env = {}) {
    // Session cgroups need root (or a delegated group, which a test run does not have): elsewhere the
    // daemons run sessions without limits, as runtime.limits: none asks (runtime-limits.test.mjs skips).
    let config = !runsAsRoot && this.config.runtime && this.config.runtime.limits === undefined
      ? { ...this.config, runtime: { ...this.config.runtime, limits: 'none' } }
      : this.config;
    // The built-in agent runs only where a test sets it up (runtime.harnesses.agent, pointed at a fake
    // model API): anywhere else it would reach for api.anthropic.com.
    const runtime = config.runtime ?? {};
    if (runtime.default_harness === undefined && !(runtime.harnesses && 'agent' in runtime.harnesses)) {
      config = { ...config, runtime: { ...runtime, default_harness: 'none' } };
    }
    fs.writeFileSync(this.configFile, `${JSON.stringify(config, null, 2)}\n`);
    return {
      dataDir: this.dataDir,
      apiKey: this.apiKey,
      env: { ...this.env, ...env },
      args: ['--config', this.configFile, '--upstream-ca', this.originCa, '--resolve', 'metrics.test:127.0.0.1',
             ...this.resolve.flatMap((entry) => ['--resolve', entry]),
             '--allow-private', '127.0.0.1/32'],  // the origin listens on loopback (N1)
    };
  }

  async start({ env = {} } = {}) {
    this.daemon = await start(this.serveOptions(env));
    this.daemons.push(this.daemon);
    // maxRetries 0: a 429 from the admission limit must reach the test, not be retried.
    this.client = new Anthropic({
      apiKey: this.apiKey, baseURL: this.daemon.baseURL, fetch: this.rec.fetch, timeout: 30_000, maxRetries: 0,
    });
    return this;
  }

  get apiPort() {
    return Number(new URL(this.daemon.baseURL).port);
  }

  raw(method, urlPath, options = {}) {
    return rawRequest({ daemon: this.daemon, apiKey: this.apiKey, rec: this.rec }, method, urlPath, options);
  }

  // GET /v1/sessions/{id}/runtime (Airlock's extension), checked to be a 200.
  async runtime(sessionId) {
    const res = await this.raw('GET', `/v1/sessions/${sessionId}/runtime`);
    assert.equal(res.status, 200, res.text);
    return res.json;
  }

  async events(sessionId) {
    return collect(this.client.beta.sessions.events.list(sessionId));
  }

  // Waits until the session's harness has ended (its end is recorded in one transaction with the
  // session's status and last events), and returns {session, runtime, events}.
  async waitForEnd(sessionId, { timeoutMs = kEndTimeoutMs } = {}) {
    const runtime = await until(`the harness of ${sessionId} to end`, async () => {
      const current = await this.runtime(sessionId);
      return kEndStates.has(current.state) ? current : null;
    }, { timeoutMs });
    const session = await this.client.beta.sessions.retrieve(sessionId);
    return { session, runtime, events: await this.events(sessionId) };
  }

  // Waits until the harness has printed a line with this text (it is then surely running).
  async waitForMessage(sessionId, text) {
    return until(`"${text}" from the harness of ${sessionId}`, async () => {
      const events = await this.events(sessionId);
      return messageTexts(events).includes(text) ? events : null;
    });
  }

  // The session's egress audit rows, once at least `count` are there (the audit writer flushes on a timer).
  async egress(sessionId, count = 1) {
    return until(`${count} egress audit row(s) of ${sessionId}`, async () => {
      const res = await this.raw('GET', `/v1/sessions/${sessionId}/egress?limit=100`);
      assert.equal(res.status, 200, res.text);
      return res.json.data.length >= count ? res.json.data : null;
    });
  }

  async stop() {
    if (!this.daemon) return null;
    const status = await this.daemon.stop();
    this.daemon = null;
    return status;
  }

  async kill() {
    const status = await this.daemon.kill('SIGKILL');
    this.daemon = null;
    return status;
  }

  // Every file under DATA_DIR/sessions/<id>/<under> on the host: {relative path: contents}.
  sessionFiles(sessionId, under = '.') {
    const root = path.join(this.dataDir, 'sessions', sessionId, under);
    const files = {};
    const walk = (dir) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else files[path.relative(root, full)] = fs.readFileSync(full, 'utf8');
      }
    };
    walk(root);
    return files;
  }

  logTails(lines = 80) {
    return this.daemons.map((d) => `--- airlock output (tail), data dir ${this.dataDir} ---\n${d.logTail(lines)}`).join('\n');
  }
}
