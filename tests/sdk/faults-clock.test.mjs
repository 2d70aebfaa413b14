// The scheduler when the wall clock jumps, in the real daemon: each restart sets
// AIRLOCK_CLOCK_OFFSET_SECONDS_FOR_TEST so that the daemon's clock lands where the jump takes it
// (scheduler.max_jitter_seconds is 0, so fires land on their nominal instant).
//   backwards: the clock goes back before a minute that already fired, and before the deployment's
//              creation: that minute never fires twice, nothing earlier fires, and upcoming_runs_at does
//              not list a fire that already ran;
//   forwards:  by five and a half minutes: only the most recent missed fire runs (docs/api.md: "After
//              downtime only the most recent missed fire within scheduler.catch_up_window_seconds runs");
//              by two hours: the every-minute deployment runs its latest minute once, a daily one whose
//              fire is 30 minutes old (older than the 900 s window) skips it and waits for the next day.
// tests/sdk/scheduler.test.mjs covers fires at the minute, pause/unpause and a crash at the run row; there the
// clock only ever moves forward by less than a minute.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { makeTempDir, randomApiKey, start } from './lib/daemon.mjs';
import { Anthropic, collect, useDaemonSeries } from './lib/harness.mjs';
import { delay, waitUntil } from './lib/faults.mjs';

const kLeadMs = 4000;     // the daemon's clock starts this long before the boundary a phase watches
const kSettleMs = 2500;   // after a boundary that must not fire, wait this long before looking
const kMinute = 60_000;

const dataDir = makeTempDir('airlock-faults-clock-');
const config = path.join(dataDir, 'airlock.yaml');
fs.writeFileSync(config, 'scheduler:\n  max_jitter_seconds: 0\nruntime:\n  default_harness: none\n');
const apiKey = randomApiKey();
const { daemons, test } = useDaemonSeries({ dirs: [dataDir], tailLines: 40 });
let daemon = null;
let client = null;
let offsetSeconds = 0;

const daemonNow = () => Date.now() + offsetSeconds * 1000;
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

// Stops the daemon (SIGTERM, exit 0) and starts it again with its clock at `at` (ms, daemon time).
async function restartAt(at) {
  if (daemon) assert.deepEqual(await daemon.stop(), { code: 0, signal: null });
  offsetSeconds = Math.round((at - Date.now()) / 1000);
  daemon = await start({
    dataDir, apiKey, args: ['--config', config],
    env: { AIRLOCK_CLOCK_OFFSET_SECONDS_FOR_TEST: String(offsetSeconds) },
  });
  daemons.push(daemon);
  client = new Anthropic({ apiKey, baseURL: daemon.baseURL, maxRetries: 0, timeout: 30_000 });
}

async function scheduledAt(deploymentId) {
  const runs = await collect(client.beta.deploymentRuns.list({ deployment_id: deploymentId, trigger_type: 'schedule' }));
  for (const run of runs) assert.ok((run.session_id === null) !== (run.error === null), JSON.stringify(run));
  return runs.map((run) => run.trigger_context.scheduled_at);
}

async function waitPast(boundary) {
  const wait = boundary + kSettleMs - daemonNow();
  if (wait > 0) await delay(wait);
}

let minutely;
let daily;
let firstBoundary;
const phase4Clock = { at: 0 };
let dailyNominal;

test('setup: an every-minute deployment fires at its first minute', async () => {
  await restartAt(Math.ceil((Date.now() + kLeadMs + 500) / kMinute) * kMinute - kLeadMs);
  const agent = await client.beta.agents.create({ name: 'clock', model: 'claude-opus-5-5' });
  const environment = await client.beta.environments.create({ name: 'clock' });
  const deployment = (schedule) => client.beta.deployments.create({
    agent: agent.id, environment_id: environment.id, name: 'clock', schedule,
    initial_events: [{ type: 'user.message', content: [{ type: 'text', text: 'tick' }] }],
  });
  minutely = await deployment({ type: 'cron', expression: '* * * * *', timezone: 'UTC' });
  // The minute after the deployment was made (the one the restart aimed at, unless a slow machine, a
  // sanitizer build, took longer than kLeadMs to get here).
  firstBoundary = Date.parse(minutely.schedule.upcoming_runs_at[0]);
  // Phase 4's clock, and a daily fire half an hour before it.
  phase4Clock.at = firstBoundary + 2 * 60 * kMinute + 30_000;
  dailyNominal = Math.floor((phase4Clock.at - 30 * kMinute) / kMinute) * kMinute;
  const d = new Date(dailyNominal);
  daily = await deployment({ type: 'cron', expression: `${d.getUTCMinutes()} ${d.getUTCHours()} * * *`, timezone: 'UTC' });
  assert.equal(daily.schedule.upcoming_runs_at[0], iso(dailyNominal));

  await waitUntil(async () => (await scheduledAt(minutely.id)).length === 1, { timeoutMs: Math.max(0, firstBoundary - daemonNow()) + 15_000, what: 'the first fire' });
  assert.deepEqual(await scheduledAt(minutely.id), [iso(firstBoundary)]);
});

test('backwards, before the deployment was created: the minute passes without a fire', async () => {
  const earlier = firstBoundary - kMinute;
  await restartAt(earlier - kLeadMs);
  await waitPast(earlier);
  assert.deepEqual(await scheduledAt(minutely.id), [iso(firstBoundary)]);
});

test('backwards, before a minute that already fired: that minute does not fire again', async () => {
  await restartAt(firstBoundary - kLeadMs);
  await waitPast(firstBoundary);
  assert.deepEqual(await scheduledAt(minutely.id), [iso(firstBoundary)]);
  assert.doesNotMatch(daemon.log(), /fired for/, 'no fire in this daemon life');
});

test('backwards: upcoming_runs_at does not list a fire that already ran', async () => {
  await restartAt(firstBoundary - kLeadMs);
  const listed = await client.beta.deployments.retrieve(minutely.id);
  assert.equal(listed.schedule.last_run_at !== null, true);
  assert.equal(listed.schedule.upcoming_runs_at[0], iso(firstBoundary + kMinute),
    `the first upcoming run is ${listed.schedule.upcoming_runs_at[0]}; ${iso(firstBoundary)} already ran and will not run again`);
});

test('forwards by five and a half minutes: only the most recent missed minute runs, once', async () => {
  const at = firstBoundary + 5 * kMinute + 30_000;
  await restartAt(at);
  const latest = firstBoundary + 5 * kMinute;
  await waitUntil(async () => (await scheduledAt(minutely.id)).length >= 2, { timeoutMs: 15_000, what: 'the catch-up fire' });
  assert.deepEqual(await scheduledAt(minutely.id), [iso(latest), iso(firstBoundary)]);
  assert.match(daemon.log(), new RegExp(`deployment ${minutely.id} skips 4 missed fires within the catch-up window`));
  assert.deepEqual(await scheduledAt(daily.id), [], 'the daily fire is not due yet');
});

test('forwards by two hours: the latest minute runs once; a daily fire older than the window is skipped', async () => {
  await restartAt(phase4Clock.at);
  const latest = Math.floor(phase4Clock.at / kMinute) * kMinute;
  await waitUntil(async () => (await scheduledAt(minutely.id)).length >= 3, { timeoutMs: 15_000, what: 'the catch-up fire' });
  assert.deepEqual((await scheduledAt(minutely.id)).slice(0, 2), [iso(latest), iso(firstBoundary + 5 * kMinute)]);
  assert.deepEqual(await scheduledAt(daily.id), []);
  assert.match(daemon.log(), new RegExp(`deployment ${daily.id} skips 1 missed fire from ${iso(dailyNominal)} to ${iso(dailyNominal)}: ` +
                                        'older than the catch-up window of 900 s'));
  const after = await client.beta.deployments.retrieve(daily.id);
  assert.equal(after.status, 'active');
  assert.equal(after.schedule.upcoming_runs_at[0], iso(dailyNominal + 24 * 60 * kMinute));
  await client.beta.deployments.archive(minutely.id);
  await client.beta.deployments.archive(daily.id);
  assert.deepEqual(await daemon.stop(), { code: 0, signal: null });
});
