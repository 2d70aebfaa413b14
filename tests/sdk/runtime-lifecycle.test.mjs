// The session runtime across daemons, each on its own data dir and config: runtime.max_concurrent_sessions
// (a 429 for POST /v1/sessions and session_rate_limited_error for a deployment run while a harness runs;
// room again once it ends), a scheduled fire whose session runs its harness through the proxy, the daemon's
// end while a harness runs (SIGKILL: the restart records it as lost; SIGTERM: stopped), runtime.default_harness,
// harnesses that leave their stdin input unread, a bwrap that cannot start, the config file masked under a
// read-only path, read_only_paths that would expose the data dir, and runtime.sandbox_uid_base (each running
// sandbox of a root daemon has its own uid from it).
//
// The scheduled fire uses the clock seam of scheduler.test.mjs: the daemon starts with
// AIRLOCK_CLOCK_OFFSET_SECONDS_FOR_TEST set so that its clock is a few seconds before a minute boundary,
// and scheduler.max_jitter_seconds is 0, so an every-minute deployment fires on that boundary.
//
// Every test is skipped, with the reason, where bubblewrap cannot create its namespaces.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';

import { makeTempDir, randomApiKey, startExpectingFailure } from './lib/daemon.mjs';
import { makeOriginCertificates, startOrigin } from './lib/origin.mjs';
import { Anthropic, Recorder, assertId, assertNoSecretsLeaked, collect, expectApiError } from './lib/harness.mjs';
import {
  RuntimeDaemon, delay, harness, hostProcessesOf, hostUidsOf, kHarnessDir, labelled, messageTexts, runsAsRoot,
  sandboxSuite, single, until, userMessage,
} from './lib/runtime.mjs';

const suite = sandboxSuite();
const { skipReason, test } = suite;
const rec = new Recorder();
const secrets = new Set();
const runtimes = [];
const otherDirs = [];

let certDir = null;
let certificates = null;
let origin = null;

before(async () => {
  if (skipReason) return;
  certDir = makeTempDir('airlock-origin-');
  certificates = makeOriginCertificates(certDir);
  origin = await startOrigin(certificates);
});

// Every daemon still running is stopped (SIGTERM, exit 0 required); data dirs are kept when a test failed.
after(async () => {
  if (skipReason) return;
  origin?.server.close();
  if (certDir) fs.rmSync(certDir, { recursive: true, force: true });
  const problems = [];
  for (const rt of runtimes) {
    try {
      const status = await rt.stop();
      if (status && (status.code !== 0 || status.signal !== null)) problems.push(`${rt.dataDir}: exit ${JSON.stringify(status)}`);
    } catch (err) {
      problems.push(`${rt.dataDir}: ${err.message}`);
    }
  }
  if (suite.failed || problems.length) {
    for (const rt of runtimes) process.stderr.write(`\n${rt.logTails(60)}\n`);
  } else {
    for (const dir of [...runtimes.map((rt) => rt.dataDir), ...otherDirs]) fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(problems, [], 'every daemon exits 0 on SIGTERM');
});

async function newRuntime(config, options = {}) {
  const rt = new RuntimeDaemon({ config, originCa: certificates.ca, rec, ...options });
  runtimes.push(rt);
  return rt.start();
}

// An agent, and an environment whose sessions run `harnessName` (or nothing, when null).
async function world(client, harnessName) {
  const agent = await client.beta.agents.create({ name: 'Lifecycle', model: 'claude-opus-5-5' });
  const metadata = harnessName ? { 'airlock.harness': harnessName } : {};
  const environment = await client.beta.environments.create({ name: `env ${harnessName ?? 'plain'}`, metadata });
  return { agent, environment };
}

function eventTypes(events) {
  return events.map((e) => e.type);
}

test('max_concurrent_sessions: 1 — while a harness runs, a session is a 429 and a deployment run records session_rate_limited_error', async () => {
  const rt = await newRuntime({ runtime: { max_concurrent_sessions: 1, harnesses: { sleeper: harness('sleep.sh', { args: ['600'] }) } } });
  const { client } = rt;
  const { agent, environment } = await world(client, 'sleeper');
  const running = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
  await rt.waitForMessage(running.id, 'sleeping');

  const busy = 'sessions are already running here (runtime.max_concurrent_sessions = 1); retry when one finishes';
  const err = await expectApiError(client.beta.sessions.create({ agent: agent.id, environment_id: environment.id }),
    { cls: Anthropic.RateLimitError, status: 429, type: 'rate_limit_error' });
  assert.equal(err.error.error.message, `1 ${busy}`);

  const deployment = await client.beta.deployments.create({
    agent: agent.id, environment_id: environment.id, name: 'busy', initial_events: [userMessage('go')],
    schedule: { type: 'cron', expression: '0 9 * * 1-5', timezone: 'UTC' },
  });
  const limited = await client.beta.deployments.run(deployment.id);
  assert.equal(limited.session_id, null);
  assert.deepEqual(limited.error, { type: 'session_rate_limited_error', message: `1 ${busy}` });
  assert.equal((await client.beta.deployments.retrieve(deployment.id)).status, 'active', 'a rate-limited run does not pause');

  // The limit counts local sandboxes only: a session that runs nothing here is created.
  const plain = await world(client, null);
  const idle = await client.beta.sessions.create({ agent: agent.id, environment_id: plain.environment.id });
  assert.equal(idle.status, 'idle');
  assert.equal((await rt.runtime(idle.id)).runtime, 'none');

  // Once the running harness ends, there is room again.
  await client.beta.sessions.archive(running.id);
  assert.equal((await rt.waitForEnd(running.id)).runtime.state, 'stopped');
  const ran = await client.beta.deployments.run(deployment.id);
  assert.equal(ran.error, null);
  assertId(ran.session_id, 'sesn');
  await rt.waitForMessage(ran.session_id, 'sleeping');
  const listed = await collect(client.beta.deploymentRuns.list({ deployment_id: deployment.id }));
  assert.deepEqual(listed.map((r) => [r.id, r.session_id, r.error?.type ?? null]),
    [[ran.id, ran.session_id, null], [limited.id, null, 'session_rate_limited_error']]);
  await client.beta.sessions.archive(ran.session_id);
  assert.equal((await rt.waitForEnd(ran.session_id)).runtime.state, 'stopped');
});

test('a scheduled fire creates a session that runs its harness; its proxied call is in the egress audit', async () => {
  const kLeadMs = 3000;  // the daemon's clock starts this long before the next minute boundary
  const boundary = Math.ceil((Date.now() + kLeadMs + 500) / 60_000) * 60_000;
  const offsetSeconds = Math.round((boundary - kLeadMs - Date.now()) / 1000);
  const rt = await newRuntime({
    scheduler: { max_jitter_seconds: 0 },
    runtime: { harnesses: { network: harness('network.sh') } },
  }, { env: { AIRLOCK_CLOCK_OFFSET_SECONDS_FOR_TEST: String(offsetSeconds) } });
  const { client } = rt;
  const secret = `sk-cron-${crypto.randomBytes(12).toString('hex')}`;
  secrets.add(secret);
  const vault = await client.beta.vaults.create({ display_name: 'cron' });
  await client.beta.vaults.credentials.create(vault.id, {
    auth: { type: 'environment_variable', secret_name: 'METRICS_API_TOKEN', secret_value: secret,
            networking: { type: 'limited', allowed_hosts: ['metrics.test'] } },
  });
  const { agent, environment } = await world(client, 'network');
  const before = origin.received.length;
  const deployment = await client.beta.deployments.create({
    agent: agent.id, environment_id: environment.id, name: 'every minute', vault_ids: [vault.id],
    initial_events: [userMessage(`${origin.port}\n${rt.apiPort}`)],
    schedule: { type: 'cron', expression: '* * * * *', timezone: 'UTC' },
  });
  assert.equal(deployment.schedule.upcoming_runs_at[0], new Date(boundary).toISOString().replace(/\.\d{3}Z$/, 'Z'));

  const [run] = await until('the scheduled run', async () => {
    const runs = await collect(client.beta.deploymentRuns.list({ deployment_id: deployment.id, trigger_type: 'schedule' }));
    return runs.length ? runs : null;
  }, { timeoutMs: kLeadMs + 15_000 });
  assert.equal(run.error, null);
  assertId(run.session_id, 'sesn');

  const { session, runtime, events } = await rt.waitForEnd(run.session_id);
  assert.equal(session.status, 'idle');
  assert.equal(session.deployment_id, deployment.id);
  assert.equal(runtime.state, 'exited');
  assert.equal(runtime.harness, 'network');
  const types = eventTypes(events);
  assert.deepEqual([types[0], types[1], types.at(-1)], ['user.message', 'session.status_running', 'session.status_idle']);
  assert.deepEqual(labelled(events, 'direct origin'), ['7']);
  assert.equal(single(events, 'status'), '200');
  assert.equal(single(events, 'proxied'), '0');
  assert.equal(origin.received.length, before + 1);
  assert.equal(origin.received.at(-1).headers.authorization, `Bearer ${secret}`);
  assert.ok(!JSON.stringify(events).includes(secret), 'the events hold no secret');

  const rows = await rt.egress(run.session_id);
  assert.equal(rows.length, 1, JSON.stringify(rows));
  assert.deepEqual([rows[0].decision, rows[0].host, rows[0].path, rows[0].status], ['allowed', 'metrics.test', '/v1/metrics', 200]);
  assert.deepEqual(rows[0].credentials.map((c) => [c.secret_name, c.location]), [['METRICS_API_TOKEN', 'header']]);
  assert.equal((await rt.stop()).code, 0);
});

test('a daemon killed while a harness runs: after the restart the session is terminated, runtime.state lost', async () => {
  const rt = await newRuntime({ runtime: { harnesses: { sleeper: harness('sleep.sh', { args: ['600'] }) } } });
  const { agent, environment } = await world(rt.client, 'sleeper');
  const created = await rt.client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
  await rt.waitForMessage(created.id, 'sleeping');
  assert.ok(hostProcessesOf(created.id).length > 0, 'the harness runs');

  assert.deepEqual(await rt.kill(), { code: null, signal: 'SIGKILL' });
  // --die-with-parent: the sandbox goes with the daemon.
  await until('the sandbox to die with the daemon', () => hostProcessesOf(created.id).length === 0);
  // A root daemon's workspace mount outlives it; the next start removes it.
  const workspace = path.join(rt.dataDir, 'sessions', created.id, 'workspace');
  const mounted = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((line) => line.split(' ')[4] === workspace);
  assert.equal(mounted(), runsAsRoot);

  // Its workspace's volume (workspace_bytes) is mounted again at the start and saved as a plain directory.
  const image = path.join(path.dirname(workspace), 'workspace.img');
  assert.equal(fs.existsSync(image), runsAsRoot);
  await rt.start();
  await until('the workspace volume a killed daemon left to be saved', () => !mounted() && !fs.existsSync(image));
  assert.ok(fs.statSync(workspace).isDirectory());
  const { session, runtime, events } = await rt.waitForEnd(created.id);
  assert.deepEqual(eventTypes(events),
    ['session.status_running', 'agent.message', 'session.error', 'session.status_terminated']);
  assert.deepEqual(events[2].error, {
    type: 'unknown_error',
    message: 'airlock stopped while this session\'s harness was running (the daemon restarted); the harness was stopped with it',
    retry_status: { type: 'terminal' },
  });
  assert.equal(session.status, 'terminated');
  assert.equal(runtime.state, 'lost');
  assert.deepEqual(messageTexts(events), ['sleeping']);
  // Its session directory is no longer open to the sandbox's uid.
  assert.equal(fs.statSync(path.dirname(workspace)).mode & 0o7777, 0o700);
});

test('a daemon stopped with SIGTERM while a harness runs: the session is terminated, runtime.state stopped', async () => {
  // runtime.default_harness: a session of an environment that names no harness runs it.
  const rt = await newRuntime({ runtime: { default_harness: 'sleeper', harnesses: { sleeper: harness('sleep.sh', { args: ['600'] }) } } });
  const { agent, environment } = await world(rt.client, null);
  const created = await rt.client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
  await rt.waitForMessage(created.id, 'sleeping');

  assert.deepEqual(await rt.stop(), { code: 0, signal: null });
  assert.deepEqual(hostProcessesOf(created.id), [], 'the daemon ends its sandboxes before it exits');

  await rt.start();
  const { session, runtime, events } = await rt.waitForEnd(created.id);
  assert.deepEqual(eventTypes(events),
    ['session.status_running', 'agent.message', 'session.error', 'session.status_terminated']);
  assert.equal(events[2].error.message, 'airlock stopped while the harness was running; its sandbox was killed');
  assert.equal(session.status, 'terminated');
  assert.equal(runtime.state, 'stopped');
  assert.equal(runtime.harness, 'sleeper');
});

test('harnesses that exit without reading a large stdin input: the daemon survives, the sessions end idle', async () => {
  // 300,000 bytes of input do not fit in the pipe (64 KiB): the daemon is still writing when the harness
  // exits, and its next write to the pipe fails. That must be EPIPE for the session, not SIGPIPE for the
  // daemon. Which of the sandbox's ends the daemon notices first varies, so 8 sessions, 4 at a time.
  const rt = await newRuntime({ runtime: { harnesses: { deaf: harness('ignore-stdin.sh') } } });
  const { agent, environment } = await world(rt.client, 'deaf');
  const daemon = rt.daemon;
  const died = daemon.exited.then((status) => ({ died: status }));
  const runOne = async () => {
    const created = await rt.client.beta.sessions.create({
      agent: agent.id, environment_id: environment.id, initial_events: [userMessage('x'.repeat(300_000))],
    });
    return { id: created.id, ...(await rt.waitForEnd(created.id)) };
  };
  for (let round = 0; round < 2; round++) {
    let outcome;
    try {
      outcome = await Promise.race([Promise.all([runOne(), runOne(), runOne(), runOne()]).then((ends) => ({ ends })), died]);
    } catch (err) {
      // A request failed: because the daemon died under it?
      outcome = await Promise.race([died, delay(2000).then(() => { throw err; })]);
    }
    if (outcome.died) {
      rt.daemon = null;  // reported here, not again by the after hook
      assert.fail(`the daemon died while harnesses that do not read their stdin ran: ${JSON.stringify(outcome.died)}\n` +
        daemon.logTail(5));
    }
    for (const { id, session, runtime, events } of outcome.ends) {
      assert.equal(session.status, 'idle', id);
      assert.equal(runtime.state, 'exited', id);
      assert.deepEqual(messageTexts(events), ['not reading stdin'], id);
    }
  }
});

test('stdout past runtime.stdout_event_bytes is counted, not stored as events', async () => {
  const rt = await newRuntime({ runtime: { stdout_event_bytes: 1050, harnesses: { chatty: harness('chatty.sh') } } });
  const { agent, environment } = await world(rt.client, 'chatty');
  const created = await rt.client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
  const { session, runtime, events } = await rt.waitForEnd(created.id);
  assert.equal(session.status, 'idle');
  assert.deepEqual([runtime.state, runtime.stdout], ['exited', { bytes: 4000, truncated: true }]);
  // 1050 bytes stored: ten whole lines of 99 and the first 50 bytes of the eleventh (ended by the end of output).
  const texts = events.filter((e) => e.type === 'agent.message').map((e) => e.content[0].text);
  assert.deepEqual(texts, [...Array(10).fill('o'.repeat(99)), 'o'.repeat(50)]);
  assert.equal(eventTypes(events).at(-1), 'session.status_idle');
  assert.match(rt.daemon.log(), /the harness printed more than runtime.stdout_event_bytes \(1050\); the rest is counted, not stored/);
});

test('runtime.bwrap that cannot be started: session.error, terminated, runtime.state failed', async () => {
  const rt = await newRuntime({ runtime: { bwrap: '/nonexistent/bwrap', harnesses: { emit: harness('emit.sh') } } });
  const { agent, environment } = await world(rt.client, 'emit');
  const created = await rt.client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
  const { session, runtime, events } = await rt.waitForEnd(created.id);
  assert.deepEqual(events.map((e) => [e.type, e.error?.message ?? null]), [
    ['session.error', 'the sandbox could not start: cannot start /nonexistent/bwrap: No such file or directory'],
    ['session.status_terminated', null],
  ]);
  assert.equal(session.status, 'terminated');
  assert.deepEqual([runtime.state, runtime.started_at, runtime.exit_code, runtime.signal], ['failed', null, null, null]);
});

test('a config file under a read-only path is masked in the sandbox (it may hold API keys)', async () => {
  const configDir = makeTempDir('airlock-config-');
  otherDirs.push(configDir);
  fs.chmodSync(configDir, 0o755);  // a read-only path the sandbox's uid can read: the mask is what hides the file
  fs.writeFileSync(path.join(configDir, 'visible.txt'), 'visible\n');
  const configKey = randomApiKey();
  secrets.add(configKey);
  const rt = await newRuntime({
    api: { keys: [configKey] },
    runtime: { harnesses: { masked: harness('masked.sh', { read_only_paths: [kHarnessDir, configDir] }) } },
  }, { configFile: path.join(configDir, 'airlock.yaml') });
  const { agent, environment } = await world(rt.client, 'masked');
  const created = await rt.client.beta.sessions.create({
    agent: agent.id, environment_id: environment.id, initial_events: [userMessage(configDir)],
  });
  const { session, events } = await rt.waitForEnd(created.id);
  assert.equal(session.status, 'idle');
  assert.ok(fs.statSync(rt.configFile).size > 0);
  // Covered by /dev/null (a device on a nodev mount inside the sandbox: it cannot even be opened).
  assert.deepEqual(messageTexts(events), [
    'file airlock.yaml: character special file, 0 bytes readable',
    'file visible.txt: regular file, 8 bytes readable',
  ]);
});

test('a read_only_paths entry that overlaps the data dir: the daemon refuses to start', async () => {
  // The data dir itself, and a directory that contains it.
  for (const exposed of [(dataDir) => dataDir, (dataDir) => path.dirname(dataDir)]) {
    const rt = new RuntimeDaemon({ config: null, originCa: certificates.ca, rec });
    otherDirs.push(rt.dataDir);
    const shown = exposed(rt.dataDir);
    rt.config = { runtime: { harnesses: { peek: harness('inspect.sh', { read_only_paths: [kHarnessDir, shown] }) } } };
    const result = await startExpectingFailure(rt.serveOptions());
    assert.equal(result.becameReady, false);
    assert.deepEqual([result.code, result.signal], [2, null], result.output);
    assert.ok(result.stderr.includes(
      `${rt.configFile}: runtime.harnesses.peek.read_only_paths[1]: ${shown} overlaps the data dir ${rt.dataDir}; ` +
      'a sandbox must never see the data dir (it holds the master key and the database)'), result.stderr);
  }
});

test('runtime.sandbox_uid_base: a root daemon gives each running sandbox its own uid, the lowest free one', async (t) => {
  if (!runsAsRoot) {
    t.skip('only a root daemon runs sandboxes as uids of their own');
    return;
  }
  const base = 2100000000;
  const rt = await newRuntime({ runtime: { sandbox_uid_base: base, harnesses: { sleeper: harness('sleep.sh', { args: ['600'] }) } } });
  const { agent, environment } = await world(rt.client, 'sleeper');
  const start = async () => {
    const created = await rt.client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
    await rt.waitForMessage(created.id, 'sleeping');
    return created.id;
  };
  const first = await start();
  const second = await start();
  assert.deepEqual([hostUidsOf(first), hostUidsOf(second)], [[base + 1], [base + 2]]);
  await rt.client.beta.sessions.archive(first);
  assert.equal((await rt.waitForEnd(first)).runtime.state, 'stopped');
  const third = await start();
  assert.deepEqual(hostUidsOf(third), [base + 1], 'the slot the first one freed');

  // The data dir and the proxy socket are open to the base's group, and to nobody else.
  const owner = (file) => {
    const info = fs.statSync(file);
    return [info.uid, info.gid, info.mode & 0o7777];
  };
  assert.deepEqual(owner(rt.dataDir), [0, base, 0o710]);
  assert.deepEqual(owner(path.join(rt.dataDir, 'sessions')), [0, base, 0o710]);
  assert.deepEqual(owner(path.join(rt.dataDir, 'proxy.sock')), [0, base, 0o660]);
  assert.deepEqual(owner(path.join(rt.dataDir, 'sessions', third, 'workspace')), [base + 1, base + 1, 0o700]);
  for (const name of ['master.key', 'airlock.db', 'ca.key.sealed']) assert.equal(owner(path.join(rt.dataDir, name))[2], 0o600, name);
  for (const id of [second, third]) await rt.client.beta.sessions.archive(id);
  for (const id of [second, third]) assert.equal((await rt.waitForEnd(id)).runtime.state, 'stopped');
});

test('no response and no daemon output carried a secret', async () => {
  assertNoSecretsLeaked(rec, secrets, runtimes.flatMap((rt) => rt.daemons));
});
