// Sessions through the official SDK (API.md §6): create with each agent reference form, the complete
// Session object, the refusals the SDK types (archived or unknown environment, unknown vault named by index,
// a secret_name two vaults expose: 409 naming both, not retried), update, the BidirectionalPageCursor list
// over more than two pages with `for await` and its statuses filter, events (initial, send, list, types,
// order), archive and delete. Airlock's extensions (API.md §10) through fetch: sandbox_env (a placeholder
// per secret_name, the proxy URL with the session id and a 64-hex token, the CA variables; no secret value
// anywhere) and the egress audit.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import {
  Anthropic, assertId, assertKeys, assertNewestFirst, assertSameIds, assertTimestamp, collect, expectApiError,
  instantNs, range, useDaemon,
} from './lib/harness.mjs';
import {
  BetaEnvironmentArchivedError, BetaEnvironmentNotFoundError,
} from '@anthropic-ai/sdk/resources/beta/environments/environments';

const ctx = useDaemon();
const test = ctx.test;

const bad = { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error' };
const notFound = { cls: Anthropic.NotFoundError, status: 404, type: 'not_found_error' };

const kSessionKeys = [
  'id', 'type', 'status', 'agent', 'environment_id', 'vault_ids', 'resources', 'metadata', 'title', 'budget',
  'outcome_evaluations', 'stats', 'usage', 'deployment_id', 'created_at', 'updated_at', 'archived_at',
];
const kAgentKeys = [
  'id', 'type', 'version', 'name', 'description', 'system', 'model', 'tools', 'mcp_servers', 'skills', 'multiagent',
  'execution_identity',
];
const kProxyVariables = ['HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy'];
const kCaVariables = [
  'SSL_CERT_FILE', 'NODE_EXTRA_CA_CERTS', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO', 'AWS_CA_BUNDLE',
  'DENO_CERT', 'CARGO_HTTP_CAINFO', 'NPM_CONFIG_CAFILE', 'YARN_CAFILE', 'YARN_HTTPS_CA_FILE_PATH', 'PIP_CERT',
  'BUNDLE_SSL_CA_CERT', 'HEX_CACERTS_PATH', 'COMPOSER_CAFILE', 'CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE',
  'GRPC_DEFAULT_SSL_ROOTS_FILE_PATH', 'HTTPLIB2_CA_CERTS',
];

let agent;
let environment;

const sessions = () => ctx.client.beta.sessions;

function envCredential(secret_name, secret_value) {
  return {
    auth: {
      type: 'environment_variable', secret_name, secret_value,
      networking: { type: 'limited', allowed_hosts: ['api.example.com'] },
    },
  };
}

function userMessage(text) {
  return { type: 'user.message', content: [{ type: 'text', text }] };
}

function assertSession(session, { vault_ids = [], metadata = {}, title = null, budget = null } = {}) {
  assertKeys(session, kSessionKeys, 'session');
  assertId(session.id, 'sesn');
  assert.equal(session.type, 'session');
  assert.equal(session.status, 'idle');
  assertKeys(session.agent, kAgentKeys, 'session.agent');
  assert.equal(session.agent.type, 'agent');
  assert.equal(session.environment_id, environment.id);
  assert.deepEqual(session.vault_ids, vault_ids);
  assert.deepEqual(session.resources, []);
  assert.deepEqual(session.metadata, metadata);
  assert.equal(session.title, title);
  assert.deepEqual(session.budget, budget);
  assert.deepEqual(session.outcome_evaluations, []);
  assert.deepEqual(session.stats, {});
  assert.deepEqual(session.usage, {});
  assert.equal(session.deployment_id, null);
  assertTimestamp(session.created_at, 'created_at');
  assertTimestamp(session.updated_at, 'updated_at');
  assert.ok(instantNs(session.updated_at) >= instantNs(session.created_at));
}

async function newVault(name, credentials = {}) {
  const vault = await ctx.client.beta.vaults.create({ display_name: name });
  for (const [secret_name, value] of Object.entries(credentials)) {
    await ctx.client.beta.vaults.credentials.create(vault.id, envCredential(secret_name, value));
  }
  return vault;
}

test('setup: an agent (two versions) and an environment', async () => {
  agent = await ctx.client.beta.agents.create({ name: 'Report bot', model: 'claude-opus-5-5', system: 'Be brief.' });
  await ctx.client.beta.agents.update(agent.id, { version: 1, system: 'Be thorough.' });
  environment = await ctx.client.beta.environments.create({ name: 'reports' });
});

test('create with the bare agent id: the complete Session object, idle, with the latest agent snapshot', async () => {
  const session = await sessions().create({ agent: agent.id, environment_id: environment.id });
  assertSession(session);
  const latest = await ctx.client.beta.agents.retrieve(agent.id);
  const { metadata, created_at, updated_at, archived_at, ...snapshot } = latest;
  assert.deepEqual(session.agent, snapshot);
  assert.equal(session.agent.version, 2);
  assert.equal(session.agent.system, 'Be thorough.');
  assert.deepEqual(await sessions().retrieve(session.id), session);
});

test('create pins a version with {type: "agent"}, and overrides fields with agent_with_overrides', async () => {
  const pinned = await sessions().create({
    agent: { id: agent.id, type: 'agent', version: 1 }, environment_id: environment.id,
  });
  assertSession(pinned);
  assert.equal(pinned.agent.version, 1);
  assert.equal(pinned.agent.system, 'Be brief.');

  const overridden = await sessions().create({
    agent: { id: agent.id, type: 'agent_with_overrides', model: 'claude-haiku-5', system: 'Override.', tools: [{ type: 'agent_toolset_20260401' }] },
    environment_id: environment.id,
  });
  assertSession(overridden);
  assert.equal(overridden.agent.version, 2);
  assert.deepEqual(overridden.agent.model, { id: 'claude-haiku-5' });
  assert.equal(overridden.agent.system, 'Override.');
  assert.deepEqual(overridden.agent.tools, [{ type: 'agent_toolset_20260401' }]);
  assert.equal((await ctx.client.beta.agents.retrieve(agent.id)).system, 'Be thorough.');

  await expectApiError(sessions().create({ agent: { id: agent.id, type: 'agent', version: 9 }, environment_id: environment.id }),
    { ...notFound, path: 'agent.version' });
  await expectApiError(sessions().create({ agent: 'agent_01nope', environment_id: environment.id }), { ...notFound, path: 'agent' });
});

test('create echoes vault_ids, metadata, title and budget', async () => {
  const a = await newVault('echo A');
  const b = await newVault('echo B');
  const budget = { type: 'limit', max_list_cost: { amount: '2500', currency: 'USD' } };
  const session = await sessions().create({
    agent: agent.id, environment_id: environment.id, vault_ids: [b.id, a.id], metadata: { team: 'data' }, title: 'Nightly',
    budget,
  });
  assertSession(session, { vault_ids: [b.id, a.id], metadata: { team: 'data' }, title: 'Nightly', budget });
  assert.deepEqual(await sessions().retrieve(session.id), session);
});

test('an archived environment is refused with environment_archived; an unknown one with environment_not_found', async () => {
  const old = await ctx.client.beta.environments.create({ name: 'old' });
  await ctx.client.beta.environments.archive(old.id);
  await expectApiError(sessions().create({ agent: agent.id, environment_id: old.id }),
    { ...bad, cls: BetaEnvironmentArchivedError, path: 'environment_id', errorCode: 'environment_archived' });
  await expectApiError(sessions().create({ agent: agent.id, environment_id: 'env_01nope' }),
    { ...notFound, cls: BetaEnvironmentNotFoundError, path: 'environment_id', errorCode: 'environment_not_found' });
});

test('vault_ids: an unknown vault is 404 and an archived one 400, each named by its index', async () => {
  const a = await newVault('index A');
  await expectApiError(sessions().create({ agent: agent.id, environment_id: environment.id, vault_ids: [a.id, 'vlt_01nope'] }),
    { ...notFound, path: 'vault_ids[1]' });
  const archived = await newVault('index archived');
  await ctx.client.beta.vaults.archive(archived.id);
  await expectApiError(sessions().create({ agent: agent.id, environment_id: environment.id, vault_ids: [archived.id] }),
    { ...bad, path: 'vault_ids[0]' });
});

test('one secret_name in two vaults of a session is a 409 naming both vaults, and the SDK does not retry it', async () => {
  const a = await newVault('clash A', { CLASH_TOKEN: ctx.secret('sk-clash-a') });
  const b = await newVault('clash B', { CLASH_TOKEN: ctx.secret('sk-clash-b') });
  const mark = ctx.rec.count;
  const err = await expectApiError(
    sessions().create({ agent: agent.id, environment_id: environment.id, vault_ids: [a.id, b.id] }),
    { cls: Anthropic.ConflictError, status: 409, type: 'conflict_error', path: 'vault_ids' });
  assert.ok(err.apiMessage.includes('CLASH_TOKEN'), err.apiMessage);
  assert.ok(err.apiMessage.includes(a.id) && err.apiMessage.includes(b.id), err.apiMessage);
  const posts = ctx.rec.since(mark).filter((ex) => ex.method === 'POST' && new URL(ex.url).pathname === '/v1/sessions');
  assert.equal(posts.length, 1, 'x-should-retry: false stops the SDK from retrying');
  assert.equal(posts[0].headers.get('x-should-retry'), 'false');
});

test('update: title, metadata patch and budget; vault_ids are refused', async () => {
  const budget = { type: 'limit', max_list_cost: { amount: '2500', currency: 'USD' } };
  const session = await sessions().create({
    agent: agent.id, environment_id: environment.id, title: 'before', metadata: { a: '1', b: '2' }, budget,
  });
  const updated = await sessions().update(session.id, { title: 'after', metadata: { a: null, c: '3' } });
  assert.equal(updated.title, 'after');
  assert.deepEqual(updated.metadata, { b: '2', c: '3' });
  assert.deepEqual(updated.budget, budget);
  assert.ok(instantNs(updated.updated_at) >= instantNs(session.updated_at));
  const lower = { type: 'limit', max_list_cost: { amount: '100', currency: 'USD' } };
  assert.deepEqual((await sessions().update(session.id, { budget: lower })).budget, lower);
  const cleared = await sessions().update(session.id, { budget: null });
  assert.equal(cleared.budget, null);
  assert.deepEqual(await sessions().retrieve(session.id), cleared);
  await expectApiError(sessions().update(session.id, { budget }), { ...bad, path: 'budget' });  // cannot be added back
  await expectApiError(sessions().update(session.id, { vault_ids: [] }), { ...bad, path: 'vault_ids' });
  await expectApiError(sessions().update('sesn_01nope', { title: 'x' }), notFound);
});

const kListed = 45;
let listed = [];
let listAgent;

test(`list: ${kListed} sessions of one agent, for await over pages of 20 visits each once, newest first`, async () => {
  listAgent = await ctx.client.beta.agents.create({ name: 'List bot', model: 'claude-opus-5-5' });
  for (const i of range(kListed)) {
    listed.push(await sessions().create({ agent: listAgent.id, environment_id: environment.id, title: `s${i}` }));
  }
  const mark = ctx.rec.count;
  const seen = [];
  for await (const session of sessions().list({ agent_id: listAgent.id, limit: 20 })) seen.push(session);
  assert.equal(seen.length, kListed);
  assertSameIds(seen, listed);
  assertNewestFirst(seen, 'sessions');
  for (const s of listed) assert.deepEqual(seen.find((x) => x.id === s.id), s);

  const pages = ctx.rec.since(mark).filter((ex) => ex.method === 'GET' && new URL(ex.url).pathname === '/v1/sessions');
  const bodies = pages.map((p) => JSON.parse(p.text));
  assert.deepEqual(bodies.map((b) => b.data.length), [20, 20, 5]);
  for (const b of bodies) assertKeys(b, ['data', 'next_page', 'prev_page'], 'BidirectionalPageCursor');
  assert.equal(bodies[0].prev_page, null);
  assert.equal(typeof bodies[1].prev_page, 'string');
  assert.equal(bodies[2].next_page, null);
  assert.equal(new URL(pages[1].url).searchParams.get('agent_id'), listAgent.id, 'the SDK re-sends the query');
  assert.equal(new URL(pages[1].url).searchParams.get('page'), bodies[0].next_page);

  // prev_page leads back to the page before.
  const back = await ctx.raw('GET', `/v1/sessions?agent_id=${listAgent.id}&limit=20&page=${encodeURIComponent(bodies[2].prev_page)}`);
  assert.equal(back.status, 200);
  assert.deepEqual(back.json.data.map((s) => s.id), bodies[1].data.map((s) => s.id));
});

test('list: order asc, agent_version, include_archived, statuses (any-of, sent as statuses[])', async () => {
  const ascending = await collect(sessions().list({ agent_id: listAgent.id, order: 'asc', limit: 100 }));
  assert.deepEqual(ascending.map((s) => s.id), listed.map((s) => s.id));
  assert.equal((await collect(sessions().list({ agent_id: listAgent.id, agent_version: 1 }))).length, kListed);
  assert.equal((await collect(sessions().list({ agent_id: listAgent.id, agent_version: 2 }))).length, 0);
  await expectApiError(sessions().list({ agent_version: 1 }), { ...bad, path: 'agent_version' });

  await sessions().archive(listed[0].id);
  assert.equal((await collect(sessions().list({ agent_id: listAgent.id }))).length, kListed - 1);
  assert.equal((await collect(sessions().list({ agent_id: listAgent.id, include_archived: true }))).length, kListed);

  const mark = ctx.rec.count;
  const idle = await collect(sessions().list({ agent_id: listAgent.id, statuses: ['idle'] }));
  assert.equal(idle.length, kListed - 1);
  const url = new URL(ctx.rec.since(mark)[0].url);
  assert.deepEqual(url.searchParams.getAll('statuses[]'), ['idle']);
  assert.equal((await collect(sessions().list({ agent_id: listAgent.id, statuses: ['running', 'terminated'] }))).length, 0);
  assert.equal((await collect(sessions().list({ agent_id: listAgent.id, statuses: ['running', 'idle'] }))).length, kListed - 1);
  await expectApiError(sessions().list({ statuses: ['paused'] }), { ...bad, path: 'statuses[0]' });
});

test('events: initial events are stored; send returns stored events; list pages, filters by type, orders', async () => {
  const session = await sessions().create({
    agent: agent.id, environment_id: environment.id,
    initial_events: [
      userMessage('Compile the report.'),
      { type: 'user.define_outcome', description: 'A report exists', rubric: { type: 'text', content: 'report.md exists' } },
    ],
  });
  const initial = await collect(sessions().events.list(session.id));
  assert.deepEqual(initial.map((e) => e.type), ['user.message', 'user.define_outcome']);
  for (const e of initial) {
    assertId(e.id, 'sevt');
    assertTimestamp(e.processed_at, 'processed_at');
  }
  assert.deepEqual(initial[0].content, [{ type: 'text', text: 'Compile the report.' }]);
  assertId(initial[1].outcome_id, 'outc');
  assert.equal(initial[1].max_iterations, 3);

  const sent = await sessions().events.send(session.id, {
    events: [userMessage('one'), { type: 'system.message', content: [{ type: 'text', text: 'note' }] }, userMessage('two')],
  });
  assert.deepEqual(sent.data.map((e) => e.type), ['user.message', 'system.message', 'user.message']);
  for (const e of sent.data) assertId(e.id, 'sevt');

  const mark = ctx.rec.count;
  const all = await collect(sessions().events.list(session.id, { limit: 2 }));
  assert.deepEqual(all.map((e) => e.id), [...initial, ...sent.data].map((e) => e.id));
  assert.equal(ctx.rec.since(mark).length, 3, 'pages of 2, 2 and 1');
  assert.deepEqual(all.slice(2), sent.data);

  const messages = await collect(sessions().events.list(session.id, { types: ['user.message'] }));
  assert.deepEqual(messages.map((e) => e.content[0].text), ['Compile the report.', 'one', 'two']);
  const newest = await sessions().events.list(session.id, { order: 'desc', limit: 1 });
  assert.deepEqual(newest.data.map((e) => e.id), [sent.data[2].id]);
  assert.equal((await sessions().events.list(session.id, { limit: 1000 })).data.length, 5);

  await expectApiError(sessions().events.send(session.id, { events: [{ type: 'agent.message', content: [] }] }),
    { ...bad, path: 'events[0].type' });
  await expectApiError(sessions().events.list('sesn_01nope'), notFound);
});

test('archive, then delete: events go with the session', async () => {
  const session = await sessions().create({ agent: agent.id, environment_id: environment.id, initial_events: [userMessage('hi')] });
  const archived = await sessions().archive(session.id);
  assertTimestamp(archived.archived_at, 'archived_at');
  await expectApiError(sessions().events.send(session.id, { events: [userMessage('late')] }), bad);
  assert.deepEqual(await sessions().delete(session.id), { id: session.id, type: 'session_deleted' });
  await expectApiError(sessions().retrieve(session.id), notFound);
  await expectApiError(sessions().events.list(session.id), notFound);
  await expectApiError(sessions().delete(session.id), notFound);
});

test('sandbox_env: a placeholder per secret_name, the proxy URL with the session id and its token, the CA bundle', async () => {
  const metricsValue = ctx.secret('sk-metrics');
  const githubValue = ctx.secret('ghp');
  const a = await newVault('env A', { METRICS_API_TOKEN: metricsValue });
  const b = await newVault('env B', { GITHUB_TOKEN: githubValue });
  const session = await sessions().create({ agent: agent.id, environment_id: environment.id, vault_ids: [a.id, b.id] });

  const res = await ctx.raw('GET', `/v1/sessions/${session.id}/sandbox_env`);
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/);
  const body = res.json;
  assertKeys(body, ['type', 'session_id', 'env', 'ca_bundle_pem'], 'sandbox_env');
  assert.equal(body.type, 'sandbox_env');
  assert.equal(body.session_id, session.id);
  const { env } = body;
  assertKeys(env, ['METRICS_API_TOKEN', 'GITHUB_TOKEN', ...kProxyVariables, 'NO_PROXY', 'no_proxy', 'NODE_USE_ENV_PROXY',
                   ...kCaVariables, 'JAVA_TOOL_OPTIONS'], 'env');

  for (const name of ['METRICS_API_TOKEN', 'GITHUB_TOKEN']) assert.match(env[name], /^airlock_ph_[A-Za-z0-9]{40}$/);
  assert.notEqual(env.METRICS_API_TOKEN, env.GITHUB_TOKEN);

  const proxy = new URL(env.HTTPS_PROXY);
  assert.equal(proxy.protocol, 'http:');
  assert.equal(proxy.username, session.id);
  assert.match(proxy.password, /^[0-9a-f]{64}$/);
  assert.equal(proxy.host, ctx.daemon.proxyAddress);
  assert.equal(env.HTTPS_PROXY, `http://${session.id}:${proxy.password}@${ctx.daemon.proxyAddress}`);
  for (const name of kProxyVariables) assert.equal(env[name], env.HTTPS_PROXY, name);
  assert.equal(env.NO_PROXY, 'localhost,127.0.0.1,::1');
  assert.equal(env.no_proxy, env.NO_PROXY);
  assert.equal(env.NODE_USE_ENV_PROXY, '1');

  const bundlePath = path.join(ctx.daemon.dataDir, 'ca-bundle.pem');
  for (const name of kCaVariables) assert.equal(env[name], bundlePath, name);
  const trustStore = path.join(ctx.daemon.dataDir, 'ca-truststore.p12');
  assert.equal(env.JAVA_TOOL_OPTIONS, `-Djavax.net.ssl.trustStore=${trustStore} -Djavax.net.ssl.trustStorePassword=changeit ` +
                                      '-Djavax.net.ssl.trustStoreType=PKCS12');
  assert.ok(fs.statSync(trustStore).size > 1000, 'the truststore is written beside the bundle');
  assert.ok(body.ca_bundle_pem.startsWith('-----BEGIN CERTIFICATE-----'), 'ca_bundle_pem is PEM');
  assert.equal(body.ca_bundle_pem, fs.readFileSync(bundlePath, 'utf8'));
  assert.ok(body.ca_bundle_pem.includes(fs.readFileSync(path.join(ctx.daemon.dataDir, 'ca.pem'), 'utf8').trim()),
    'the bundle holds Airlock\'s CA');

  for (const value of [metricsValue, githubValue]) assert.ok(!res.text.includes(value), 'no secret value in sandbox_env');

  // The token is derived: the same on every call, another for another session.
  const again = await ctx.raw('GET', `/v1/sessions/${session.id}/sandbox_env`);
  assert.equal(again.json.env.HTTPS_PROXY, env.HTTPS_PROXY);
  const other = await sessions().create({ agent: agent.id, environment_id: environment.id });
  const otherEnv = (await ctx.raw('GET', `/v1/sessions/${other.id}/sandbox_env`)).json.env;
  assert.notEqual(new URL(otherEnv.HTTPS_PROXY).password, proxy.password);
  assert.equal(otherEnv.METRICS_API_TOKEN, undefined);
});

test('sandbox_env: 404 for unknown and deleted sessions, 400 once archived', async () => {
  const missing = await ctx.raw('GET', '/v1/sessions/sesn_01nope/sandbox_env');
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error.type, 'not_found_error');

  const session = await sessions().create({ agent: agent.id, environment_id: environment.id });
  await sessions().archive(session.id);
  const archived = await ctx.raw('GET', `/v1/sessions/${session.id}/sandbox_env`);
  assert.equal(archived.status, 400);
  assert.equal(archived.json.error.type, 'invalid_request_error');
  await sessions().delete(session.id);
  assert.equal((await ctx.raw('GET', `/v1/sessions/${session.id}/sandbox_env`)).status, 404);
});

test('egress: an empty audit for a new session; 404 for an unknown one', async () => {
  const session = await sessions().create({ agent: agent.id, environment_id: environment.id });
  const res = await ctx.raw('GET', `/v1/sessions/${session.id}/egress`);
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, { data: [], next_page: null });
  const bad1001 = await ctx.raw('GET', `/v1/sessions/${session.id}/egress?limit=1001`);
  assert.equal(bad1001.status, 400);
  assert.ok(bad1001.json.error.message.startsWith('limit: '));
  assert.equal((await ctx.raw('GET', '/v1/sessions/sesn_01nope/egress')).status, 404);
});

test('every response had a JSON content type, a JSON body and a unique request-id', () => {
  ctx.assertResponsesWellFormed();
});

test('no response and no daemon output contained a secret', () => {
  ctx.assertNoSecretsLeaked();
});
