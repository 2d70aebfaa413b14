// The scheduler in the real daemon: an every-minute deployment really fires and records a scheduled run
// with a session; pause stops it (manual runs still work), unpause resumes at the next minute without
// backfill, archive ends it; and a daemon that dies right after writing a run row
// (AIRLOCK_CRASH_AT_FOR_TEST=after_run_row, exit 86) is restarted without a second run for that minute,
// and with that run finished (a session, or unknown_error).
//
// Waiting for real minute boundaries would take minutes, so each phase (re)starts the daemon with
// AIRLOCK_CLOCK_OFFSET_SECONDS_FOR_TEST set so that its clock is about 4 s before the next minute
// boundary. The daemon's clock only ever moves forward, and by less than a minute at each restart, so no
// boundary is skipped and the catch-up rule never fires anything by surprise. scheduler.max_jitter_seconds
// is 0 (a --config file), so fires land on the boundary itself.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { makeTempDir, randomApiKey, start } from './lib/daemon.mjs';
import { Anthropic, Recorder, assertId, assertResponsesWellFormed, assertTimestamp, collect, instantNs, useDaemonSeries } from './lib/harness.mjs';

const kLeadMs = 4000;          // daemon clock at start: this long before the next minute boundary
const kFireTimeoutMs = 15_000; // how long to wait for a fire that must happen
const kSettleMs = 2500;        // after a boundary that must not fire, wait this long before looking

const dataDir = makeTempDir('airlock-scheduler-');
const config = path.join(dataDir, 'airlock.yaml');
fs.writeFileSync(config, 'scheduler:\n  max_jitter_seconds: 0\nruntime:\n  default_harness: none\n');
const apiKey = randomApiKey();
const rec = new Recorder();
const { daemons, test } = useDaemonSeries({ dirs: [dataDir], tailLines: 60 });

let daemon = null;
let client = null;
let offsetSeconds = 0;

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const daemonNow = () => Date.now() + offsetSeconds * 1000;
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

// Stops the running daemon (if any) and starts one whose clock is kLeadMs before its next minute
// boundary, moving the clock forward by less than a minute. Returns that boundary (ms, daemon time).
async function restartBeforeBoundary({ env = {} } = {}) {
  if (daemon) {
    const status = await daemon.stop();
    assert.deepEqual(status, { code: 0, signal: null }, 'airlock exits 0 on SIGTERM');
  }
  const boundary = Math.ceil((daemonNow() + kLeadMs + 500) / 60_000) * 60_000;
  offsetSeconds = Math.round((boundary - kLeadMs - Date.now()) / 1000);
  await boot(env);
  return boundary;
}

async function boot(env = {}) {
  daemon = await start({
    dataDir, apiKey, args: ['--config', config],
    env: { AIRLOCK_CLOCK_OFFSET_SECONDS_FOR_TEST: String(offsetSeconds), ...env },
  });
  daemons.push(daemon);
  client = new Anthropic({ apiKey, baseURL: daemon.baseURL, fetch: rec.fetch, timeout: 30_000, maxRetries: 0 });
  return daemon;
}

async function scheduledRuns(deploymentId) {
  return collect(client.beta.deploymentRuns.list({ deployment_id: deploymentId, trigger_type: 'schedule' }));
}

// Polls until the deployment has `count` scheduled runs (the daemon fires on its own timer).
async function waitForScheduledRuns(deploymentId, count) {
  const deadline = Date.now() + kFireTimeoutMs;
  for (;;) {
    const runs = await scheduledRuns(deploymentId);
    if (runs.length >= count) return runs;
    if (Date.now() > deadline) {
      assert.fail(`deployment ${deploymentId} has ${runs.length} scheduled runs, expected ${count}\n${daemon.logTail(30)}`);
    }
    await delay(200);
  }
}

async function waitPast(boundary) {
  const wait = boundary + kSettleMs - daemonNow();
  if (wait > 0) await delay(wait);
}

let deployment = null;
let firstBoundary = 0;

test('an every-minute deployment fires at the minute and records a scheduled run with a session', async () => {
  const boundary = await restartBeforeBoundary();
  firstBoundary = boundary;
  assert.match(daemon.log(), /TEST SEAM: AIRLOCK_CLOCK_OFFSET_SECONDS_FOR_TEST=/, 'the seam is announced in the log');
  const agent = await client.beta.agents.create({ name: 'Minutely', model: 'claude-opus-5-5' });
  const environment = await client.beta.environments.create({ name: 'minutely' });
  const vault = await client.beta.vaults.create({ display_name: 'Minutely' });
  deployment = await client.beta.deployments.create({
    agent: agent.id, environment_id: environment.id, name: 'every minute', vault_ids: [vault.id],
    initial_events: [{ type: 'user.message', content: [{ type: 'text', text: 'tick' }] }],
    schedule: { type: 'cron', expression: '* * * * *', timezone: 'UTC' },
  });
  // The API lists nominal instants by the daemon's (offset) clock.
  assert.equal(deployment.schedule.upcoming_runs_at[0], iso(boundary));
  assert.equal(deployment.schedule.upcoming_runs_at[1], iso(boundary + 60_000));

  const [run] = await waitForScheduledRuns(deployment.id, 1);
  assertId(run.id, 'drun');
  assert.deepEqual(run.trigger_context, { type: 'schedule', scheduled_at: iso(boundary) });
  assert.equal(run.error, null);
  assertId(run.session_id, 'sesn');
  assert.ok(instantNs(run.created_at) >= BigInt(boundary) * 1_000_000n, 'the run started at or after its minute');

  const session = await client.beta.sessions.retrieve(run.session_id);
  assert.equal(session.deployment_id, deployment.id);
  assert.deepEqual(session.vault_ids, [vault.id]);
  const events = await collect(client.beta.sessions.events.list(run.session_id));
  assert.deepEqual(events.map((e) => e.type), ['user.message']);

  const after = await client.beta.deployments.retrieve(deployment.id);
  assert.equal(after.schedule.last_run_at, run.created_at, 'last_run_at is when the scheduled run started');
  assert.equal(after.schedule.upcoming_runs_at[0], iso(boundary + 60_000));
});

test('pause stops the fires (a manual run still works); unpause resumes at the next minute without backfill', async () => {
  await client.beta.deployments.pause(deployment.id);
  const skipped = await restartBeforeBoundary();
  await waitPast(skipped);
  assert.equal((await scheduledRuns(deployment.id)).length, 1, 'no fire while paused');
  const manual = await client.beta.deployments.run(deployment.id);
  assert.deepEqual(manual.trigger_context, { type: 'manual' });
  assertId(manual.session_id, 'sesn');

  await client.beta.deployments.unpause(deployment.id);
  const resumed = await restartBeforeBoundary();
  const runs = await waitForScheduledRuns(deployment.id, 2);
  assert.deepEqual(runs.map((r) => r.trigger_context.scheduled_at), [iso(resumed), iso(firstBoundary)],
    'the paused minute is never backfilled');
  assert.ok(skipped < resumed);
});

test('archive ends the fires', async () => {
  const archived = await client.beta.deployments.archive(deployment.id);
  assert.deepEqual(archived.schedule.upcoming_runs_at, []);
  assertTimestamp(archived.schedule.last_run_at, 'last_run_at is kept');
  const boundary = await restartBeforeBoundary();
  await waitPast(boundary);
  assert.equal((await scheduledRuns(deployment.id)).length, 2);
});

test('a crash right after the run row is written: the restart finishes that run, and the minute never runs twice', async () => {
  const agent = await client.beta.agents.create({ name: 'Crashy', model: 'claude-opus-5-5' });
  const environment = await client.beta.environments.create({ name: 'crashy' });
  const crashy = await client.beta.deployments.create({
    agent: agent.id, environment_id: environment.id, name: 'crash at the run row',
    initial_events: [{ type: 'user.message', content: [{ type: 'text', text: 'tick' }] }],
    schedule: { type: 'cron', expression: '* * * * *', timezone: 'UTC' },
  });
  const boundary = await restartBeforeBoundary({ env: { AIRLOCK_CRASH_AT_FOR_TEST: 'after_run_row' } });
  assert.match(daemon.log(), /TEST SEAM: AIRLOCK_CRASH_AT_FOR_TEST=after_run_row/);
  let timer;
  const status = await Promise.race([
    daemon.exited,
    new Promise((resolve) => { timer = setTimeout(() => resolve(null), kFireTimeoutMs); }),
  ]);
  clearTimeout(timer);
  assert.deepEqual(status, { code: 86, signal: null }, 'the daemon stopped at after_run_row');
  daemon = null;

  // Same clock (it has moved on by a second or two, well within the catch-up window), no crash point.
  await boot();
  const runs = await waitForScheduledRuns(crashy.id, 1);
  assert.equal(runs.length, 1);
  const [run] = runs;
  assert.deepEqual(run.trigger_context, { type: 'schedule', scheduled_at: iso(boundary) });
  assert.ok((run.session_id === null) !== (run.error === null), 'exactly one of session_id and error');
  if (run.error) assert.equal(run.error.type, 'unknown_error');
  else assertId(run.session_id, 'sesn');
  assert.match(daemon.log(), new RegExp(`finishing run ${run.id} of deployment ${crashy.id}`));

  // Until the next minute, nothing else runs: the one run of that minute is the only one there will be.
  await delay(500);
  assert.deepEqual((await scheduledRuns(crashy.id)).map((r) => r.id), [run.id]);
  await client.beta.deployments.archive(crashy.id);
  const status2 = await daemon.stop();
  assert.deepEqual(status2, { code: 0, signal: null });
  daemon = null;
  assertResponsesWellFormed(rec);
});
