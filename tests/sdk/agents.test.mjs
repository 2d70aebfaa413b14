// Agents through the official SDK: create (defaults of API.md §3), retrieve with ?version, update with a
// version bump and the optimistic lock (409 with x-should-retry: false, sent once), list, archive and
// versions.list.
import assert from 'node:assert/strict';

import {
  Anthropic, assertId, assertKeys, assertNewestFirst, assertSameIds, assertTimestamp, collect, expectApiError,
  instantNs, range, useDaemon,
} from './lib/harness.mjs';

const ctx = useDaemon();
const test = ctx.test;

const kAgentKeys = [
  'id', 'type', 'name', 'description', 'system', 'model', 'tools', 'mcp_servers', 'skills', 'multiagent',
  'execution_identity', 'metadata', 'version', 'created_at', 'updated_at', 'archived_at',
];
const bad = { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error' };
const notFound = { cls: Anthropic.NotFoundError, status: 404, type: 'not_found_error' };
const conflict = { cls: Anthropic.ConflictError, status: 409, type: 'conflict_error' };

// The model object: `id` exactly; `effort` (always an object when present) as expected; nothing unexpected.
function assertModel(model, { id, effort, inference_geo, speed }) {
  assert.equal(model.id, id);
  if (effort !== undefined) assert.deepEqual(model.effort, { type: effort });
  else if (model.effort !== undefined) assert.match(model.effort.type, /^(low|medium|high|xhigh|max)$/);
  assert.equal(model.inference_geo, inference_geo);
  if (speed !== undefined) assert.equal(model.speed, speed);
  for (const key of Object.keys(model)) assert.ok(['id', 'effort', 'inference_geo', 'speed'].includes(key), `model.${key}`);
}

function assertAgent(agent, { name, description = null, system = null, metadata = {}, version = 1 }) {
  assertKeys(agent, kAgentKeys, 'agent');
  assertId(agent.id, 'agent');
  assert.equal(agent.type, 'agent');
  assert.equal(agent.name, name);
  assert.equal(agent.description, description);
  assert.equal(agent.system, system);
  assert.deepEqual(agent.metadata, metadata);
  assert.equal(agent.version, version);
  assertTimestamp(agent.created_at, 'created_at');
  assertTimestamp(agent.updated_at, 'updated_at');
  assert.ok(instantNs(agent.updated_at) >= instantNs(agent.created_at));
}

test('create with the minimum returns the documented defaults', async () => {
  const agent = await ctx.client.beta.agents.create({ name: 'Report bot', model: 'claude-opus-5-5' });
  assertAgent(agent, { name: 'Report bot' });
  assertModel(agent.model, { id: 'claude-opus-5-5' });
  assert.deepEqual(agent.tools, []);
  assert.deepEqual(agent.mcp_servers, []);
  assert.deepEqual(agent.skills, []);
  assert.equal(agent.multiagent, null);
  assert.deepEqual(agent.execution_identity, { type: 'service_account' });
  assert.equal(agent.archived_at, null);
  assert.deepEqual(await ctx.client.beta.agents.retrieve(agent.id), agent);
});

test('create echoes every field sent; effort given as a string comes back as an object', async () => {
  const agent = await ctx.client.beta.agents.create({
    name: 'Full',
    model: { id: 'claude-sonnet-5-5', effort: 'high' },
    description: 'Compiles reports',
    system: 'You write reports.',
    metadata: { team: 'data', tier: '1' },
    execution_identity: { type: 'service_account' },
  });
  assertAgent(agent, {
    name: 'Full', description: 'Compiles reports', system: 'You write reports.', metadata: { team: 'data', tier: '1' },
  });
  assertModel(agent.model, { id: 'claude-sonnet-5-5', effort: 'high' });
  assert.deepEqual(agent.execution_identity, { type: 'service_account' });

  const objectEffort = await ctx.client.beta.agents.create({
    name: 'Effort object', model: { id: 'claude-haiku-5-5', effort: { type: 'low' } },
  });
  assertModel(objectEffort.model, { id: 'claude-haiku-5-5', effort: 'low' });

  const nulls = await ctx.client.beta.agents.create({
    name: 'Nulls', model: 'claude-opus-5-5', description: null, system: null, execution_identity: null,
  });
  assertAgent(nulls, { name: 'Nulls' });
  assert.deepEqual(nulls.execution_identity, { type: 'service_account' });
});

test('create validation', async () => {
  await expectApiError(ctx.client.beta.agents.create({ model: 'claude-opus-5-5' }), { ...bad, path: 'name' });
  await expectApiError(ctx.client.beta.agents.create({ name: 'x' }), { ...bad, path: 'model' });
  await expectApiError(ctx.client.beta.agents.create({ name: 7, model: 'claude-opus-5-5' }), { ...bad, path: 'name' });
  await expectApiError(ctx.client.beta.agents.create({ name: 'x', model: 7 }), { ...bad, pathPrefix: 'model' });
  await expectApiError(ctx.client.beta.agents.create({ name: 'x', model: {} }), { ...bad, path: 'model.id' });
  await expectApiError(ctx.client.beta.agents.create({ name: 'x', model: { id: 'claude-opus-5-5', effort: 'extreme' } }),
    { ...bad, pathPrefix: 'model.effort' });
  await expectApiError(ctx.client.beta.agents.create({ name: 'x', model: 'claude-opus-5-5', description: 5 }),
    { ...bad, path: 'description' });
  await expectApiError(ctx.client.beta.agents.create({
    name: 'x', model: 'claude-opus-5-5', metadata: Object.fromEntries(range(17).map((i) => [`k${i}`, 'v'])),
  }), { ...bad, pathPrefix: 'metadata' });
  await expectApiError(ctx.client.beta.agents.create({ name: 'x', model: 'claude-opus-5-5', metadata: { k: 'v'.repeat(513) } }),
    { ...bad, pathPrefix: 'metadata' });
  await expectApiError(ctx.client.beta.agents.create({ name: 'x', model: 'claude-opus-5-5', metadata: { ['k'.repeat(65)]: 'v' } }),
    { ...bad, pathPrefix: 'metadata' });
});

test('update bumps the version and keeps older versions retrievable', async () => {
  const v1 = await ctx.client.beta.agents.create({
    name: 'Versioned', model: 'claude-opus-5-5', description: 'one', system: 'sys one', metadata: { a: '1' },
  });
  const v2 = await ctx.client.beta.agents.update(v1.id, { description: 'two', version: 1 });
  assertAgent(v2, { name: 'Versioned', description: 'two', system: 'sys one', metadata: { a: '1' }, version: 2 });
  assert.equal(v2.id, v1.id);
  assert.equal(v2.created_at, v1.created_at);
  assertModel(v2.model, { id: 'claude-opus-5-5' });

  const v3 = await ctx.client.beta.agents.update(v1.id, { system: 'sys three', name: 'Renamed', version: 2 });
  assertAgent(v3, { name: 'Renamed', description: 'two', system: 'sys three', metadata: { a: '1' }, version: 3 });

  assert.deepEqual(await ctx.client.beta.agents.retrieve(v1.id), v3);
  const old1 = await ctx.client.beta.agents.retrieve(v1.id, { version: 1 });
  assertAgent(old1, { name: 'Versioned', description: 'one', system: 'sys one', metadata: { a: '1' }, version: 1 });
  const old2 = await ctx.client.beta.agents.retrieve(v1.id, { version: 2 });
  assertAgent(old2, { name: 'Versioned', description: 'two', system: 'sys one', metadata: { a: '1' }, version: 2 });
  assert.deepEqual(await ctx.client.beta.agents.retrieve(v1.id, { version: 3 }), v3);

  await expectApiError(ctx.client.beta.agents.retrieve(v1.id, { version: 4 }), notFound);
  await expectApiError(ctx.client.beta.agents.retrieve(v1.id, { version: 0 }), { ...bad, path: 'version' });
});

test('update with a stale version is 409 conflict_error, sent once, and changes nothing', async () => {
  const agent = await ctx.client.beta.agents.create({ name: 'Locked', model: 'claude-opus-5-5' });
  const v2 = await ctx.client.beta.agents.update(agent.id, { description: 'first writer', version: 1 });
  assert.equal(v2.version, 2);

  const mark = ctx.rec.count;
  const err = await expectApiError(
    ctx.client.beta.agents.update(agent.id, { description: 'second writer', version: 1 }), conflict);
  assert.equal(ctx.rec.count - mark, 1, 'the SDK sent the request once');
  assert.equal(err.headers.get('x-should-retry'), 'false');
  await expectApiError(ctx.client.beta.agents.update(agent.id, { description: 'future', version: 3 }), conflict);

  assert.deepEqual(await ctx.client.beta.agents.retrieve(agent.id), v2);
  await expectApiError(ctx.client.beta.agents.update(agent.id, { description: 'x', version: 0 }), { ...bad, path: 'version' });
});

test('concurrent updates from the same version: exactly one wins, the others are 409', async () => {
  const agent = await ctx.client.beta.agents.create({ name: 'Race', model: 'claude-opus-5-5' });
  const results = await Promise.allSettled(range(6).map((i) =>
    ctx.client.beta.agents.update(agent.id, { description: `writer ${i}`, version: 1 })));
  const won = results.filter((r) => r.status === 'fulfilled');
  assert.equal(won.length, 1);
  assert.equal(won[0].value.version, 2);
  for (const r of results.filter((x) => x.status === 'rejected')) {
    assert.ok(r.reason instanceof Anthropic.ConflictError, `${r.reason}`);
  }
  assert.deepEqual(await ctx.client.beta.agents.retrieve(agent.id), won[0].value);
  const versions = await collect(ctx.client.beta.agents.versions.list(agent.id));
  assert.deepEqual(versions.map((a) => a.version).sort(), [1, 2]);
});

test('retrieve with a version that is not a positive integer is 400', async () => {
  const agent = await ctx.client.beta.agents.create({ name: 'Q', model: 'claude-opus-5-5' });
  for (const version of ['abc', '-1', '1.5']) {
    const res = await ctx.raw('GET', `/v1/agents/${agent.id}?version=${version}`);
    assert.equal(res.status, 400, `version=${version}: ${res.text}`);
    assert.equal(res.json.error.type, 'invalid_request_error');
    assert.ok(res.json.error.message.startsWith('version: '), res.json.error.message);
  }
});

test('update without version applies unconditionally', async () => {
  const agent = await ctx.client.beta.agents.create({ name: 'Free', model: 'claude-opus-5-5' });
  const a = await ctx.client.beta.agents.update(agent.id, { description: 'a' });
  const b = await ctx.client.beta.agents.update(agent.id, { description: 'b' });
  assert.equal(a.version, 2);
  assert.equal(b.version, 3);
  assert.equal(b.description, 'b');
});

test('update field rules: "" and null clear description/system, metadata is a patch, model replaced whole', async () => {
  const agent = await ctx.client.beta.agents.create({
    name: 'Rules', model: { id: 'claude-opus-5-5', effort: 'high', inference_geo: 'us' },
    description: 'd', system: 's', metadata: { a: '1', b: '2' },
  });
  const cleared = await ctx.client.beta.agents.update(agent.id, { description: '', system: null });
  assert.equal(cleared.description, null);
  assert.equal(cleared.system, null);
  assert.equal(cleared.name, 'Rules');
  assertModel(cleared.model, { id: 'claude-opus-5-5', effort: 'high', inference_geo: 'us' });

  const patched = await ctx.client.beta.agents.update(agent.id, { metadata: { a: null, c: '3' } });
  assert.deepEqual(patched.metadata, { b: '2', c: '3' });

  const remodel = await ctx.client.beta.agents.update(agent.id, { model: { id: 'claude-sonnet-5-5', effort: 'low' } });
  assertModel(remodel.model, { id: 'claude-sonnet-5-5', effort: 'low', inference_geo: undefined });
  const bare = await ctx.client.beta.agents.update(agent.id, { model: 'claude-haiku-5-5' });
  assert.equal(bare.model.id, 'claude-haiku-5-5');

  await expectApiError(ctx.client.beta.agents.update(agent.id, { name: '' }), { ...bad, path: 'name' });
  await expectApiError(ctx.client.beta.agents.update(agent.id, { name: null }), { ...bad, path: 'name' });
  await expectApiError(ctx.client.beta.agents.update(agent.id, { model: null }), { ...bad, pathPrefix: 'model' });
  await expectApiError(ctx.client.beta.agents.update(agent.id, { metadata: { ['k'.repeat(65)]: 'v' } }),
    { ...bad, pathPrefix: 'metadata' });
  const after = await ctx.client.beta.agents.retrieve(agent.id);
  assert.equal(after.name, 'Rules');
  assert.equal(after.model.id, 'claude-haiku-5-5');
});

test('versions.list returns one agent per version', async () => {
  const agent = await ctx.client.beta.agents.create({ name: 'History', model: 'claude-opus-5-5', description: 'v1' });
  for (const v of [2, 3, 4]) {
    await ctx.client.beta.agents.update(agent.id, { description: `v${v}`, version: v - 1 });
  }
  const versions = await collect(ctx.client.beta.agents.versions.list(agent.id));
  assert.deepEqual(versions.map((a) => a.version).sort(), [1, 2, 3, 4]);
  for (const a of versions) {
    assertAgent(a, { name: 'History', description: `v${a.version}`, version: a.version });
    assert.equal(a.id, agent.id);
    assert.deepEqual(a, await ctx.client.beta.agents.retrieve(agent.id, { version: a.version }));
  }

  // Paged through the SDK with a small limit.
  const paged = await collect(ctx.client.beta.agents.versions.list(agent.id, { limit: 3 }));
  assert.deepEqual(paged, versions);

  await expectApiError(collect(ctx.client.beta.agents.versions.list('agent_011CZkYpogX7uDKUyvBTophP')), notFound);
});

test('list hides archived agents unless include_archived; archive returns the agent', async () => {
  const keep = await ctx.client.beta.agents.create({ name: 'Keep', model: 'claude-opus-5-5' });
  const gone = await ctx.client.beta.agents.create({ name: 'Gone', model: 'claude-opus-5-5' });
  const archived = await ctx.client.beta.agents.archive(gone.id);
  assertAgent(archived, { name: 'Gone', version: archived.version });
  assertTimestamp(archived.archived_at, 'archived_at');
  assert.equal(archived.id, gone.id);
  assert.deepEqual(await ctx.client.beta.agents.retrieve(gone.id), archived);

  const active = await collect(ctx.client.beta.agents.list({ limit: 100 }));
  assert.ok(active.some((a) => a.id === keep.id));
  assert.ok(!active.some((a) => a.id === gone.id));
  assert.ok(active.every((a) => a.archived_at === null));
  assertNewestFirst(active);
  const all = await collect(ctx.client.beta.agents.list({ limit: 100, include_archived: true }));
  assert.deepEqual(all.find((a) => a.id === gone.id), archived);
  assertNewestFirst(all);
  assert.deepEqual(all.find((a) => a.id === keep.id), keep);
});

test('list filters on created_at[gte] and created_at[lte]', async () => {
  const made = [];
  for (const i of range(3)) made.push(await ctx.client.beta.agents.create({ name: `window ${i}`, model: 'claude-opus-5-5' }));
  const from = made[1].created_at;
  const gte = await collect(ctx.client.beta.agents.list({ limit: 100, 'created_at[gte]': from }));
  assert.ok(gte.some((a) => a.id === made[1].id) && gte.some((a) => a.id === made[2].id));
  assert.ok(gte.every((a) => instantNs(a.created_at) >= instantNs(from)));
  const lte = await collect(ctx.client.beta.agents.list({ limit: 100, 'created_at[lte]': from }));
  assert.ok(lte.some((a) => a.id === made[1].id) && lte.some((a) => a.id === made[0].id));
  assert.ok(lte.every((a) => instantNs(a.created_at) <= instantNs(from)));
  const exact = await collect(ctx.client.beta.agents.list({ limit: 100, 'created_at[gte]': from, 'created_at[lte]': from }));
  assert.ok(exact.some((a) => a.id === made[1].id));
  assert.ok(exact.every((a) => a.created_at === from || instantNs(a.created_at) === instantNs(from)));
  await expectApiError(ctx.client.beta.agents.list({ 'created_at[gte]': 'yesterday' }),
    { ...bad, path: 'created_at[gte]' });
});

test('list pages through more agents than one page', async () => {
  const made = [];
  for (const i of range(25)) made.push(await ctx.client.beta.agents.create({ name: `page ${i}`, model: 'claude-opus-5-5' }));
  const mark = ctx.rec.count;
  const all = await collect(ctx.client.beta.agents.list({ limit: 10 }));
  assert.ok(ctx.rec.count - mark >= 3, 'at least three pages were fetched');
  assert.equal(new Set(all.map((a) => a.id)).size, all.length, 'each agent once');
  for (const a of made) assert.ok(all.some((x) => x.id === a.id));
  assertNewestFirst(all);
  assertSameIds(all.slice(0, 25), made);
});

test('unknown agent ids are 404 not_found_error', async () => {
  const id = 'agent_011CZkYpogX7uDKUyvBTophP';
  await expectApiError(ctx.client.beta.agents.retrieve(id), notFound);
  await expectApiError(ctx.client.beta.agents.update(id, { description: 'x' }), notFound);
  await expectApiError(ctx.client.beta.agents.archive(id), notFound);
});

test('every response had a JSON content type, a JSON body and a unique request-id', () => {
  ctx.assertResponsesWellFormed();
});
