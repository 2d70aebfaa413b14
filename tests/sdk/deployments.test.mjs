// Deployments and deployment runs through the official SDK (API.md §5, §8 steps 6-11): the seed example,
// the Deployment and DeploymentRun objects field by field, create validation (cron and time zone
// messages), update's omit/null semantics, the list filters (status with include_archived is a 400),
// pause/unpause/archive and their rules, manual runs (a session with the deployment's vaults and initial
// events, or a 200 whose run carries the error), and the runs list's filters and pages.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

import { AIRLOCK_BIN } from './lib/daemon.mjs';
import {
  Anthropic, assertId, assertKeys, assertNewestFirst, assertTimestamp, collect, expectApiError, instantNs, useDaemon,
} from './lib/harness.mjs';

const ctx = useDaemon();
const test = ctx.test;

const kDeploymentKeys = [
  'id', 'type', 'name', 'description', 'agent', 'environment_id', 'vault_ids', 'resources', 'initial_events',
  'schedule', 'status', 'paused_reason', 'metadata', 'created_at', 'updated_at', 'archived_at',
];
const kRunKeys = ['id', 'type', 'deployment_id', 'agent', 'trigger_context', 'session_id', 'error', 'created_at'];
const bad = { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error' };
const notFound = { cls: Anthropic.NotFoundError, status: 404, type: 'not_found_error' };

const message = (text) => ({ type: 'user.message', content: [{ type: 'text', text }] });
const weekdays = { type: 'cron', expression: '0 9 * * 1-5', timezone: 'UTC' };

// What `airlock cron next` (the scheduler's own code) lists after `from`.
function cronNext(expression, timezone, from, count = 5) {
  const out = execFileSync(AIRLOCK_BIN, ['cron', 'next', '--expr', expression, '--tz', timezone, '--from', from,
    '--count', String(count)], { encoding: 'utf8' });
  return out.trim().split('\n');
}

// One agent, one environment and two vaults, shared by the file's tests.
let fixture;
async function world() {
  if (fixture) return fixture;
  const client = ctx.client;
  const llmVault = await client.beta.vaults.create({ display_name: 'LLM keys' });
  await client.beta.vaults.credentials.create(llmVault.id, {
    auth: {
      type: 'environment_variable', secret_name: 'ANTHROPIC_API_KEY', secret_value: ctx.secret('sk-ant'),
      networking: { type: 'limited', allowed_hosts: ['api.anthropic.com'] },
    },
  });
  const metricsVault = await client.beta.vaults.create({ display_name: 'Metrics' });
  await client.beta.vaults.credentials.create(metricsVault.id, {
    auth: {
      type: 'environment_variable', secret_name: 'METRICS_API_TOKEN', secret_value: ctx.secret('metrics'),
      networking: { type: 'limited', allowed_hosts: ['metrics.example.com'] },
    },
  });
  const agent = await client.beta.agents.create({ name: 'Health digest', model: 'claude-opus-5-5' });
  const environment = await client.beta.environments.create({
    name: 'digest',
    config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: ['api.anthropic.com', 'metrics.example.com'] } },
  });
  fixture = { llmVault, metricsVault, agent, environment };
  return fixture;
}

async function newDeployment(overrides = {}) {
  const { agent, environment } = await world();
  return ctx.client.beta.deployments.create({
    agent: agent.id, environment_id: environment.id, name: 'digest', initial_events: [message('go')],
    schedule: weekdays, ...overrides,
  });
}

function assertRun(run, { deployment, trigger = { type: 'manual' } }) {
  assertKeys(run, kRunKeys, 'deployment run');
  assertId(run.id, 'drun');
  assert.equal(run.type, 'deployment_run');
  assert.equal(run.deployment_id, deployment.id);
  assert.deepEqual(run.agent, deployment.agent);
  assert.deepEqual(run.trigger_context, trigger);
  assertTimestamp(run.created_at, 'run.created_at');
  assert.ok((run.session_id === null) !== (run.error === null), 'exactly one of session_id and error');
}

test('the seed example: create with a cron schedule and two vaults, run now, list the runs', async () => {
  const client = ctx.client;
  const { llmVault, metricsVault, agent, environment } = await world();
  const deployment = await client.beta.deployments.create({
    agent: agent.id, environment_id: environment.id,
    name: 'weekday-health-digest', initial_events: [{ type: 'user.message', content: [{ type: 'text', text: '...' }] }],
    schedule: { type: 'cron', expression: '0 9 * * 1-5', timezone: 'UTC' }, vault_ids: [llmVault.id, metricsVault.id],
  });
  assertKeys(deployment, kDeploymentKeys, 'deployment');
  assertId(deployment.id, 'depl');
  assert.equal(deployment.type, 'deployment');
  assert.equal(deployment.name, 'weekday-health-digest');
  assert.equal(deployment.description, null);
  assert.deepEqual(deployment.agent, { id: agent.id, type: 'agent', version: 1 });
  assert.equal(deployment.environment_id, environment.id);
  assert.deepEqual(deployment.vault_ids, [llmVault.id, metricsVault.id]);
  assert.deepEqual(deployment.resources, []);
  assert.deepEqual(deployment.initial_events, [{ type: 'user.message', content: [{ type: 'text', text: '...' }] }]);
  assert.equal(deployment.status, 'active');
  assert.equal(deployment.paused_reason, null);
  assert.deepEqual(deployment.metadata, {});
  assertTimestamp(deployment.created_at, 'created_at');
  assert.equal(deployment.updated_at, deployment.created_at);
  assert.equal(deployment.archived_at, null);
  assert.deepEqual(deployment.schedule, {
    type: 'cron', expression: '0 9 * * 1-5', timezone: 'UTC', last_run_at: null,
    upcoming_runs_at: cronNext('0 9 * * 1-5', 'UTC', deployment.created_at),
  });
  for (const at of deployment.schedule.upcoming_runs_at) {
    assert.match(at, /^\d{4}-\d{2}-\d{2}T09:00:00Z$/);
    assert.ok(![0, 6].includes(new Date(at).getUTCDay()), `${at} is a weekday`);
  }
  assert.deepEqual(await client.beta.deployments.retrieve(deployment.id), deployment);

  const run = await client.beta.deployments.run(deployment.id);
  assertRun(run, { deployment });
  assert.equal(run.error, null);
  assertId(run.session_id, 'sesn');

  const runs = await client.beta.deploymentRuns.list({ deployment_id: deployment.id });
  assert.deepEqual(runs.data, [run]);
  assert.deepEqual(await client.beta.deploymentRuns.retrieve(run.id), run);

  // The session: the deployment's id, vaults, pinned agent and environment, and the initial event stored.
  const session = await client.beta.sessions.retrieve(run.session_id);
  assert.equal(session.deployment_id, deployment.id);
  assert.deepEqual(session.vault_ids, [llmVault.id, metricsVault.id]);
  assert.equal(session.environment_id, environment.id);
  assert.equal(session.agent.id, agent.id);
  assert.equal(session.agent.version, 1);
  const events = await collect(client.beta.sessions.events.list(run.session_id));
  assert.equal(events.length, 1);
  assert.equal(events[0].type, 'user.message');
  assert.deepEqual(events[0].content, [{ type: 'text', text: '...' }]);

  // Manual runs never move last_run_at.
  assert.equal((await client.beta.deployments.retrieve(deployment.id)).schedule.last_run_at, null);
});

test('create echoes every optional field; a bare agent id pins the latest version, an object pins its own', async () => {
  const client = ctx.client;
  const { agent, metricsVault } = await world();
  const budget = { type: 'limit', max_list_cost: { amount: '2500', currency: 'USD' } };
  const full = await newDeployment({
    description: 'Every weekday', metadata: { team: 'sre' }, vault_ids: [metricsVault.id], budget,
    resources: [{ type: 'github_repository', url: 'https://github.com/example/ops', checkout: { type: 'branch', name: 'main' } }],
    initial_events: [message('one'), { type: 'system.message', content: [{ type: 'text', text: 'scheduled' }] }],
    schedule: { type: 'cron', expression: '30 2 * * *', timezone: 'America/New_York' },
  });
  assertKeys(full, [...kDeploymentKeys, 'budget'], 'deployment with a budget');
  assert.equal(full.description, 'Every weekday');
  assert.deepEqual(full.metadata, { team: 'sre' });
  assert.deepEqual(full.budget, budget);
  assert.deepEqual(full.resources, [{
    type: 'github_repository', url: 'https://github.com/example/ops', checkout: { type: 'branch', name: 'main' },
    mount_path: '/workspace/ops',
  }]);
  assert.deepEqual(full.initial_events, [message('one'), { type: 'system.message', content: [{ type: 'text', text: 'scheduled' }] }]);
  assert.deepEqual(full.schedule.upcoming_runs_at, cronNext('30 2 * * *', 'America/New_York', full.created_at));

  const manualOnly = await newDeployment({ schedule: null });
  assert.equal(manualOnly.schedule, null);
  assert.ok(!('budget' in manualOnly), 'no budget: the field is absent');

  const v2 = await client.beta.agents.update(agent.id, { version: agent.version, system: 'second version' });
  assert.equal(v2.version, 2);
  assert.deepEqual((await newDeployment()).agent, { id: agent.id, type: 'agent', version: 2 });
  assert.deepEqual((await newDeployment({ agent: { id: agent.id, type: 'agent', version: 1 } })).agent,
    { id: agent.id, type: 'agent', version: 1 });
});

test('create refuses a bad schedule, a bad zone, missing fields and unknown references, naming the field', async () => {
  const { agent, environment } = await world();
  let err = await expectApiError(newDeployment({ schedule: { type: 'cron', expression: '60 9 * * *', timezone: 'UTC' } }),
    { ...bad, path: 'schedule.expression' });
  assert.equal(err.apiMessage, 'schedule.expression: minute field: 60 is out of range 0-59');
  err = await expectApiError(newDeployment({ schedule: { type: 'cron', expression: '0 9 * * *', timezone: 'Mars/Olympus' } }),
    { ...bad, path: 'schedule.timezone' });
  assert.equal(err.apiMessage, 'schedule.timezone: unknown time zone "Mars/Olympus"');
  for (const expression of ['@daily', '0 9 * * * 2027', '0 9 ? * MON#1', '0 0 30 2 *']) {
    await expectApiError(newDeployment({ schedule: { type: 'cron', expression, timezone: 'UTC' } }),
      { ...bad, path: 'schedule.expression' });
  }
  await expectApiError(newDeployment({ schedule: { type: 'cron', expression: '0 9 * * *' } }), { ...bad, path: 'schedule.timezone' });
  await expectApiError(newDeployment({ initial_events: [] }), { ...bad, path: 'initial_events' });
  await expectApiError(newDeployment({ name: '' }), { ...bad, path: 'name' });
  await expectApiError(newDeployment({ agent: 'agent_011CZkYpogX7uDKUyvBTophP' }), { ...notFound, path: 'agent' });
  await expectApiError(newDeployment({ environment_id: 'env_011CZkZ9X2dpNyB7HsEFoRfW' }),
    { ...notFound, path: 'environment_id', errorCode: 'environment_not_found' });
  await expectApiError(newDeployment({ vault_ids: ['vlt_011CZkZDLs7fYzm1hXNPeRjv'] }), { ...notFound, path: 'vault_ids[0]' });
  await expectApiError(ctx.client.beta.deployments.create({ agent: agent.id, environment_id: environment.id, name: 'x' }),
    { ...bad, path: 'initial_events' });
});

test('update: omit keeps, null or empty clears where allowed, arrays replace, metadata patches', async () => {
  const client = ctx.client;
  const { llmVault, metricsVault } = await world();
  const created = await newDeployment({ description: 'd', vault_ids: [llmVault.id], metadata: { a: '1', b: '2' } });

  const unchanged = await client.beta.deployments.update(created.id, {});
  assert.deepEqual({ ...unchanged, updated_at: created.updated_at }, created);

  const updated = await client.beta.deployments.update(created.id, {
    name: 'renamed', description: '', vault_ids: [metricsVault.id, llmVault.id], metadata: { a: null, c: '3' },
    initial_events: [message('first'), message('second')],
    schedule: { type: 'cron', expression: '*/15 * * * *', timezone: 'Europe/Paris' },
  });
  assert.equal(updated.name, 'renamed');
  assert.equal(updated.description, null);
  assert.deepEqual(updated.vault_ids, [metricsVault.id, llmVault.id]);
  assert.deepEqual(updated.metadata, { b: '2', c: '3' });
  assert.deepEqual(updated.initial_events, [message('first'), message('second')]);
  assert.equal(updated.schedule.expression, '*/15 * * * *');
  assert.equal(updated.schedule.timezone, 'Europe/Paris');
  assert.equal(updated.schedule.upcoming_runs_at.length, 5);
  assert.ok(instantNs(updated.updated_at) >= instantNs(created.updated_at));
  assert.equal(updated.created_at, created.created_at);

  const cleared = await client.beta.deployments.update(created.id, { vault_ids: null, schedule: null, description: null });
  assert.deepEqual(cleared.vault_ids, []);
  assert.equal(cleared.schedule, null);
  assert.equal(cleared.description, null);
  assert.equal(cleared.name, 'renamed');

  await expectApiError(client.beta.deployments.update(created.id, { name: null }), { ...bad, path: 'name' });
  await expectApiError(client.beta.deployments.update(created.id, { initial_events: null }), { ...bad, path: 'initial_events' });
  await expectApiError(client.beta.deployments.update(created.id, { environment_id: null }), { ...bad, path: 'environment_id' });
  await expectApiError(client.beta.deployments.update(created.id, {
    schedule: { type: 'cron', expression: '0 25 * * *', timezone: 'UTC' },
  }), { ...bad, path: 'schedule.expression' });
  await expectApiError(client.beta.deployments.update('depl_011CZkZcDH3vPqd7xnEfwTai', { name: 'x' }), notFound);
});

test('pause, unpause and archive follow the lifecycle rules; manual runs work while paused', async () => {
  const client = ctx.client;
  const deployment = await newDeployment();

  const paused = await client.beta.deployments.pause(deployment.id);
  assert.equal(paused.status, 'paused');
  assert.deepEqual(paused.paused_reason, { type: 'manual' });
  assert.equal(paused.schedule.upcoming_runs_at.length, 5, 'paused deployments still list upcoming runs');
  assert.deepEqual(await client.beta.deployments.pause(deployment.id), paused, 'pause on paused: unchanged');
  const pausedIds = (await collect(client.beta.deployments.list({ status: 'paused' }))).map((d) => d.id);
  assert.ok(pausedIds.includes(deployment.id));
  assert.ok(!(await collect(client.beta.deployments.list({ status: 'active' }))).some((d) => d.id === deployment.id));

  const manual = await client.beta.deployments.run(deployment.id);
  assertRun(manual, { deployment });
  assert.equal(manual.error, null);

  const active = await client.beta.deployments.unpause(deployment.id);
  assert.equal(active.status, 'active');
  assert.equal(active.paused_reason, null);
  assert.deepEqual(await client.beta.deployments.unpause(deployment.id), active, 'unpause on active: unchanged');

  await client.beta.deployments.pause(deployment.id);
  const archived = await client.beta.deployments.archive(deployment.id);
  assertTimestamp(archived.archived_at, 'archived_at');
  assert.equal(archived.status, 'active', 'archived deployments report active');
  assert.equal(archived.paused_reason, null);
  assert.deepEqual(archived.schedule.upcoming_runs_at, []);
  assert.equal(archived.schedule.last_run_at, null);
  assert.deepEqual(await client.beta.deployments.archive(deployment.id), archived);

  assert.ok(!(await collect(client.beta.deployments.list())).some((d) => d.id === deployment.id));
  assert.ok((await collect(client.beta.deployments.list({ include_archived: true }))).some((d) => d.id === deployment.id));
  for (const call of [
    () => client.beta.deployments.pause(deployment.id),
    () => client.beta.deployments.unpause(deployment.id),
    () => client.beta.deployments.run(deployment.id),
    () => client.beta.deployments.update(deployment.id, { name: 'again' }),
  ]) {
    const err = await expectApiError(call(), bad);
    assert.match(err.apiMessage, new RegExp(`^deployment ${deployment.id} is archived; an archived deployment cannot `));
  }
  // Runs outlive the archive.
  assert.deepEqual((await client.beta.deploymentRuns.list({ deployment_id: deployment.id })).data, [manual]);
  await expectApiError(client.beta.deployments.pause('depl_011CZkZcDH3vPqd7xnEfwTai'), notFound);
  await expectApiError(client.beta.deployments.retrieve('depl_011CZkZcDH3vPqd7xnEfwTai'), notFound);
});

test('list: filters by agent, status and created_at; status with include_archived is a 400', async () => {
  const client = ctx.client;
  const other = await client.beta.agents.create({ name: 'Other', model: 'claude-opus-5-5' });
  const first = await newDeployment({ agent: other.id });
  const second = await newDeployment({ agent: other.id });
  await client.beta.deployments.pause(second.id);
  const third = await newDeployment({ agent: other.id });
  await client.beta.deployments.archive(third.id);

  assert.deepEqual((await collect(client.beta.deployments.list({ agent_id: other.id }))).map((d) => d.id), [second.id, first.id]);
  assert.deepEqual((await collect(client.beta.deployments.list({ agent_id: other.id, include_archived: true }))).map((d) => d.id),
    [third.id, second.id, first.id]);
  assert.deepEqual((await collect(client.beta.deployments.list({ agent_id: other.id, status: 'active' }))).map((d) => d.id),
    [first.id]);
  assert.deepEqual((await collect(client.beta.deployments.list({
    agent_id: other.id, include_archived: true, 'created_at[gte]': second.created_at, 'created_at[lte]': third.created_at,
  }))).map((d) => d.id), [third.id, second.id]);

  const all = await collect(client.beta.deployments.list({ limit: 2, include_archived: true }));
  assert.ok(all.length >= 3);
  assertNewestFirst(all, 'deployments');

  await expectApiError(client.beta.deployments.list({ status: 'paused', include_archived: true }), { ...bad, path: 'status' });
  await expectApiError(client.beta.deployments.list({ status: 'archived' }), { ...bad, path: 'status' });
});

test('a manual run whose session cannot be created is a 200 with the error, and never pauses', async () => {
  const client = ctx.client;
  const { agent } = await world();
  const environment = await client.beta.environments.create({ name: 'short-lived' });
  const deployment = await newDeployment({ environment_id: environment.id });
  const ok = await client.beta.deployments.run(deployment.id);
  await client.beta.environments.archive(environment.id);
  const failed = await client.beta.deployments.run(deployment.id);
  assertRun(failed, { deployment });
  assert.equal(failed.session_id, null);
  assert.equal(failed.error.type, 'environment_archived_error');
  assert.equal(failed.error.message,
    `environment_id: environment ${environment.id} is archived; sessions need an active environment`);
  assert.equal((await client.beta.deployments.retrieve(deployment.id)).status, 'active');
  assert.deepEqual(failed.agent, { id: agent.id, type: 'agent', version: deployment.agent.version });

  const runs = client.beta.deploymentRuns;
  assert.deepEqual((await collect(runs.list({ deployment_id: deployment.id }))).map((r) => r.id), [failed.id, ok.id]);
  assert.deepEqual((await collect(runs.list({ deployment_id: deployment.id, has_error: true }))).map((r) => r.id), [failed.id]);
  assert.deepEqual((await collect(runs.list({ deployment_id: deployment.id, has_error: false }))).map((r) => r.id), [ok.id]);
  assert.deepEqual((await collect(runs.list({ deployment_id: deployment.id, trigger_type: 'manual' }))).map((r) => r.id),
    [failed.id, ok.id]);
  assert.deepEqual(await collect(runs.list({ deployment_id: deployment.id, trigger_type: 'schedule' })), []);
  assert.deepEqual((await collect(runs.list({ deployment_id: deployment.id, 'created_at[gt]': ok.created_at }))).map((r) => r.id),
    [failed.id]);
  assert.deepEqual((await collect(runs.list({ deployment_id: deployment.id, 'created_at[gte]': ok.created_at }))).map((r) => r.id),
    [failed.id, ok.id]);
  assert.deepEqual((await collect(runs.list({ deployment_id: deployment.id, 'created_at[lt]': failed.created_at }))).map((r) => r.id),
    [ok.id]);
  assert.deepEqual((await collect(runs.list({ deployment_id: deployment.id, 'created_at[lte]': failed.created_at }))).map((r) => r.id),
    [failed.id, ok.id]);
});

test('deployment runs: retrieve, pages across the workspace, an unknown deployment_id is an empty 200', async () => {
  const client = ctx.client;
  const deployment = await newDeployment({ schedule: null });
  const made = [];
  for (let i = 0; i < 3; i++) made.push(await client.beta.deployments.run(deployment.id));
  const listed = await collect(client.beta.deploymentRuns.list({ deployment_id: deployment.id, limit: 1 }));
  assert.deepEqual(listed.map((r) => r.id), made.map((r) => r.id).reverse());
  assertNewestFirst(listed, 'runs');
  for (const run of made) assert.deepEqual(await client.beta.deploymentRuns.retrieve(run.id), run);

  const everything = await collect(client.beta.deploymentRuns.list({ limit: 2 }));
  assertNewestFirst(everything, 'all runs');
  for (const run of made) assert.ok(everything.some((r) => r.id === run.id));

  const empty = await client.beta.deploymentRuns.list({ deployment_id: 'depl_011CZkZcDH3vPqd7xnEfwTai' });
  assert.deepEqual(empty.data, []);
  assert.equal(empty.next_page, null);
  await expectApiError(client.beta.deploymentRuns.retrieve('drun_011CZkZcDH3vPqd7xnEfwTai'), notFound);
  await expectApiError(client.beta.deploymentRuns.list({ trigger_type: 'cron' }), { ...bad, path: 'trigger_type' });
});

test('every response was well formed and no secret leaked', async () => {
  ctx.assertResponsesWellFormed();
  ctx.assertNoSecretsLeaked();
});
