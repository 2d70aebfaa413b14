// Resource limits (docs/runtime.md, "Resource limits"): each session's sandbox runs in a cgroup of its own.
// A harness that takes memory is killed at its limit and its session ends out_of_memory, saying so; a
// harness that forks and hogs memory together is held to its process and memory limits while another
// session's requests go through the proxy and the API keeps answering; and every running session's
// runtime record shows the limits it runs under. A harness that fills its workspace meets ENOSPC at the
// workspace's limit, and what it wrote is on the host as a plain directory once it has ended.
//
// Skipped, with the reason, where bubblewrap cannot create its namespaces.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';

import { makeTempDir } from './lib/daemon.mjs';
import { makeOriginCertificates, startOrigin } from './lib/origin.mjs';
import { Recorder } from './lib/harness.mjs';
import { RuntimeDaemon, harness, labelled, runsAsRoot, sandboxSuite, single, userMessage } from './lib/runtime.mjs';

const suite = sandboxSuite(runsAsRoot ? null : 'session cgroups need root here (or a delegated cgroup: docs/runtime.md)');
const { skipReason, test } = suite;
const rec = new Recorder();

let certDir = null;
let origin = null;
let rt = null;

const kHogLimit = 64 << 20;
const kFillerWorkspace = 32 << 20;
// Room enough that the hog is always the largest process when the limit is reached, so it is the one the
// kernel kills (the relay of an AddressSanitizer build is large too).
const kStormLimits = { memory_bytes: 192 << 20, pids: 48, cpus: 0.5 };

before(async () => {
  if (skipReason) return;
  certDir = makeTempDir('airlock-origin-');
  const certificates = makeOriginCertificates(certDir);
  origin = await startOrigin(certificates);
  rt = new RuntimeDaemon({
    config: {
      runtime: {
        max_concurrent_sessions: 4,
        limits: { memory_bytes: 256 << 20, pids: 256, cpus: 1 },
        harnesses: {
          hog: harness('hog.sh', { limits: { memory_bytes: kHogLimit }, timeout_seconds: 60 }),
          storm: harness('storm.sh', { limits: kStormLimits, timeout_seconds: 8 }),
          network: harness('network.sh'),
          filler: harness('filler.sh', { limits: { workspace_bytes: kFillerWorkspace } }),
        },
      },
    },
    originCa: certificates.ca,
    rec,
  });
  await rt.start();
});

after(async () => {
  if (skipReason) return;
  origin?.server.close();
  const status = await rt?.stop();
  if (suite.failed || !status || status.code !== 0) {
    process.stderr.write(`\n${rt?.logTails(80)}\n`);
  } else {
    fs.rmSync(rt.dataDir, { recursive: true, force: true });
    fs.rmSync(certDir, { recursive: true, force: true });
  }
  assert.deepEqual(status, { code: 0, signal: null }, 'airlock must exit 0 on SIGTERM');
});

async function sessionOf(harnessName, options = {}) {
  const { client } = rt;
  const agent = await client.beta.agents.create({ name: harnessName, model: 'claude-opus-5-5' });
  const environment = await client.beta.environments.create({ name: harnessName, metadata: { 'airlock.harness': harnessName } });
  return client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, ...options });
}

test('a harness that takes memory is killed at its limit: the session ends out_of_memory, with the limit and the peak', async () => {
  const created = await sessionOf('hog');
  const { session, runtime, events } = await rt.waitForEnd(created.id);
  assert.equal(session.status, 'terminated');
  assert.equal(runtime.state, 'out_of_memory');
  // bubblewrap reports its child's SIGKILL as exit status 137.
  assert.deepEqual([runtime.exit_code, runtime.signal], [137, null]);
  assert.ok(runtime.oom_kills >= 1, JSON.stringify(runtime));
  assert.deepEqual(runtime.limits, { memory_bytes: kHogLimit, pids: 256, cpus: 1, workspace_bytes: 1 << 30 });
  assert.ok(runtime.memory_peak_bytes > kHogLimit * 0.9 && runtime.memory_peak_bytes <= kHogLimit,
            `peak ${runtime.memory_peak_bytes}`);
  const error = events.find((e) => e.type === 'session.error');
  assert.ok(error, JSON.stringify(events.map((e) => e.type)));
  assert.equal(error.error.message,
               `the harness hog ran out of memory: the kernel killed ${runtime.oom_kills} of its processes at its limit ` +
               `of ${kHogLimit} bytes (runtime.harnesses.hog.limits.memory_bytes, or runtime.limits.memory_bytes); its ` +
               `peak was ${runtime.memory_peak_bytes} bytes; its stderr is in GET /v1/sessions/${created.id}/runtime`);
  assert.equal(events.at(-1).type, 'session.status_terminated');
});

test('a fork bomb with a memory hog is held to its limits while another session goes through the proxy', async () => {
  const storm = await sessionOf('storm');
  await rt.waitForMessage(storm.id, 'storming');

  // Meanwhile: the API answers, and another session's harness reaches the origin through the proxy.
  const secret = `sk-limits-${crypto.randomBytes(12).toString('hex')}`;
  const vault = await rt.client.beta.vaults.create({ display_name: 'limits' });
  await rt.client.beta.vaults.credentials.create(vault.id, {
    auth: { type: 'environment_variable', secret_name: 'METRICS_API_TOKEN', secret_value: secret,
            networking: { type: 'limited', allowed_hosts: ['metrics.test'] } },
  });
  const started = Date.now();
  const calm = await sessionOf('network', { vault_ids: [vault.id], initial_events: [userMessage(`${origin.port}\n${rt.apiPort}`)] });
  const done = await rt.waitForEnd(calm.id);
  assert.equal(done.runtime.state, 'exited', JSON.stringify(done.runtime));
  assert.equal(single(done.events, 'proxied'), '0');
  assert.equal(single(done.events, 'status'), '200');
  assert.ok(Date.now() - started < 20_000, 'the other session finished in time');
  assert.equal(origin.received.at(-1).headers.authorization, `Bearer ${secret}`);

  // The storm: no more processes than its pids limit (the relay and bubblewrap count too), its memory
  // hog killed at the limit, and the whole sandbox ended at its time limit.
  const { runtime, events } = await rt.waitForEnd(storm.id);
  const forked = Number(single(events, 'started'));
  assert.ok(forked > 0 && forked < kStormLimits.pids, `started ${forked}`);
  assert.equal(runtime.state, 'timed_out');
  assert.ok(runtime.oom_kills >= 1, JSON.stringify(runtime));
  assert.deepEqual(runtime.limits, { ...kStormLimits, workspace_bytes: 1 << 30 });
  assert.deepEqual(labelled(events, 'started').length, 1);
});

test('a harness that fills its workspace meets ENOSPC at its limit; its files stay on the host as a directory', async () => {
  const created = await sessionOf('filler');
  const { session, runtime, events } = await rt.waitForEnd(created.id);
  assert.equal(session.status, 'terminated');
  assert.equal(runtime.state, 'failed');
  assert.deepEqual(runtime.limits, { memory_bytes: 256 << 20, pids: 256, cpus: 1, workspace_bytes: kFillerWorkspace });
  assert.equal(single(events, 'dd'), 'No space left on device');
  assert.equal(single(events, 'status'), '1');
  const error = events.find((e) => e.type === 'session.error');
  assert.equal(error.error.message,
               `the harness filler exited with status 1; its stderr is in GET /v1/sessions/${created.id}/runtime; its ` +
               `workspace was full (runtime.harnesses.filler.limits.workspace_bytes, or runtime.limits.workspace_bytes: ` +
               `${kFillerWorkspace} bytes)`);

  // On the host: a plain directory (nothing mounted), what the harness wrote in it, and no volume image.
  const dir = path.join(rt.dataDir, 'sessions', created.id);
  const workspace = path.join(dir, 'workspace');
  const mounted = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((line) => line.split(' ')[4] === workspace);
  assert.equal(mounted, false);
  assert.equal(fs.readFileSync(path.join(workspace, 'kept.txt'), 'utf8'), 'kept\n');
  const big = fs.statSync(path.join(workspace, 'big')).size;
  assert.ok(big > kFillerWorkspace / 2 && big < kFillerWorkspace, `big is ${big} bytes`);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['agent.json', 'initial_events.json', 'stderr.log', 'workspace']);
});
