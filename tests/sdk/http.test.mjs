// The HTTP contract around the resources (API.md §7 and §9): API keys (Bearer and x-api-key, several
// keys), unknown routes and wrong methods, malformed bodies, empty bodies, the error body shape, JSON
// content type and request-id on every response, Idempotency-Key, and x-should-retry on conflicts.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';

import {
  Anthropic, assertRawError, collect, expectApiError, randomKey, rawSocketRequest, useDaemon,
} from './lib/harness.mjs';

const primaryKey = randomKey();
const secondaryKey = randomKey();
const ctx = useDaemon({ apiKey: primaryKey, env: { AIRLOCK_API_KEY: `${primaryKey},${secondaryKey}` } });
const test = ctx.test;

function allowSet(res) {
  return new Set((res.headers.get('allow') ?? '').split(',').map((m) => m.trim().toUpperCase()).filter(Boolean));
}

test('GET /healthz answers 200 without a key', async () => {
  const res = await fetch(`${ctx.daemon.baseURL}/healthz`);
  assert.equal(res.status, 200);
  await res.arrayBuffer();
});

test('the daemon cannot dump core: RLIMIT_CORE is 0, soft and hard', async () => {
  // (PR_SET_DUMPABLE 0 is checked by the unit test of disable_core_dumps; from outside, as root, it shows
  // only as /proc/PID files owned by root.)
  const limits = fs.readFileSync(`/proc/${ctx.daemon.pid}/limits`, 'utf8');
  assert.match(limits, /^Max core file size\s+0\s+0\s+bytes\s*$/m);
});

// ---- API keys ------------------------------------------------------------------------------------------

test('a request without a key is 401 authentication_error', async () => {
  assertRawError(await ctx.raw('GET', '/v1/vaults', { auth: false }), 401, 'authentication_error');
  assertRawError(await ctx.raw('POST', '/v1/vaults', { auth: false, body: { display_name: 'sneaky' } }),
    401, 'authentication_error');
  const listed = await collect(ctx.client.beta.vaults.list({ limit: 100, include_archived: true }));
  assert.ok(!listed.some((v) => v.display_name === 'sneaky'), 'an unauthenticated POST created nothing');
});

test('a wrong key is 401 through the SDK (AuthenticationError, not retried) and raw', async () => {
  const wrong = ctx.makeClient({ apiKey: randomKey() });
  const mark = ctx.rec.count;
  await expectApiError(wrong.beta.vaults.list(), { cls: Anthropic.AuthenticationError, status: 401, type: 'authentication_error' });
  await expectApiError(wrong.beta.vaults.create({ display_name: 'nope' }),
    { cls: Anthropic.AuthenticationError, status: 401, type: 'authentication_error' });
  assert.equal(ctx.rec.count - mark, 2);
  for (const headers of [
    { authorization: `Bearer ${primaryKey}x` },
    { authorization: `Bearer ${primaryKey.slice(0, -1)}` },
    { authorization: 'Bearer ' },
    { authorization: primaryKey },
    { authorization: `Basic ${Buffer.from(`user:${primaryKey}`).toString('base64')}` },
    { 'x-api-key': 'wrong' },
    { 'x-api-key': '' },
  ]) {
    assertRawError(await ctx.raw('GET', '/v1/vaults', { headers, auth: false }), 401, 'authentication_error');
  }
});

test('x-api-key works as well as Authorization: Bearer', async () => {
  const res = await ctx.raw('GET', '/v1/vaults', { headers: { 'x-api-key': primaryKey }, auth: false });
  assert.equal(res.status, 200);
  assert.ok(Array.isArray(res.json.data));
  const created = await ctx.raw('POST', '/v1/vaults', {
    headers: { 'x-api-key': primaryKey }, auth: false, body: { display_name: 'via x-api-key' },
  });
  assert.equal(created.status, 200);
  assert.equal(created.json.display_name, 'via x-api-key');
  const viaSdk = ctx.makeClient({ apiKey: null, defaultHeaders: { 'X-Api-Key': primaryKey } });
  assert.equal((await viaSdk.beta.vaults.retrieve(created.json.id)).id, created.json.id);
});

test('every key of a comma-separated AIRLOCK_API_KEY is accepted', async () => {
  const second = ctx.makeClient({ apiKey: secondaryKey });
  const vault = await second.beta.vaults.create({ display_name: 'second key' });
  assert.deepEqual(await ctx.client.beta.vaults.retrieve(vault.id), vault);
  const res = await ctx.raw('GET', `/v1/vaults/${vault.id}`, { headers: { 'x-api-key': secondaryKey }, auth: false });
  assert.equal(res.status, 200);
  assertRawError(await ctx.raw('GET', '/v1/vaults', {
    headers: { authorization: `Bearer ${primaryKey},${secondaryKey}` }, auth: false,
  }), 401, 'authentication_error');
});

test('anthropic-version, anthropic-beta and anthropic-workspace-id are optional and accepted', async () => {
  const plain = await ctx.raw('GET', '/v1/vaults');
  assert.equal(plain.status, 200);
  const decorated = await ctx.raw('GET', '/v1/vaults', {
    headers: {
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'some-other-beta, managed-agents-2026-04-01',
      'anthropic-workspace-id': 'wrkspc_011CZkZaBF1tNoB5wlCeusgy',
    },
  });
  assert.equal(decorated.status, 200);
  const sdkWithWorkspace = await ctx.client.beta.vaults.create({
    display_name: 'workspace header', workspace_id: 'wrkspc_011CZkZaBF1tNoB5wlCeusgy',
  });
  assert.equal(sdkWithWorkspace.display_name, 'workspace header');
});

// ---- routes --------------------------------------------------------------------------------------------

test('unknown routes are 404 not_found_error', async () => {
  for (const path of ['/v1/nope', '/v1/vaults/vlt_x/bogus', '/', '/v2/vaults', '/v1/vaults/vlt_x/credentials/vcrd_y/zzz']) {
    assertRawError(await ctx.raw('GET', path), 404, 'not_found_error');
  }
  assertRawError(await ctx.raw('POST', '/v1/nope', { body: {} }), 404, 'not_found_error');
});

test('a wrong method is 405 invalid_request_error with an Allow header', async () => {
  const cases = [
    ['DELETE', '/v1/agents/agent_x', ['GET', 'POST']],
    ['PUT', '/v1/vaults', ['GET', 'POST']],
    ['DELETE', '/v1/vaults', ['GET', 'POST']],
    ['PATCH', '/v1/vaults/vlt_x', ['GET', 'POST', 'DELETE']],
    ['PUT', '/v1/environments/env_x', ['GET', 'POST', 'DELETE']],
    ['GET', '/v1/vaults/vlt_x/archive', ['POST']],
    ['DELETE', '/v1/agents/agent_x/archive', ['POST']],
    ['POST', '/v1/agents/agent_x/versions', ['GET']],
    ['PATCH', '/v1/vaults/vlt_x/credentials/vcrd_y', ['GET', 'POST', 'DELETE']],
  ];
  for (const [method, path, allowed] of cases) {
    const res = await ctx.raw(method, path);
    assertRawError(res, 405, 'invalid_request_error');
    const allow = allowSet(res);
    for (const m of allowed) assert.ok(allow.has(m), `${method} ${path}: Allow (${res.headers.get('allow')}) lists ${m}`);
    assert.ok(!allow.has(method), `${method} ${path}: Allow does not list ${method}`);
  }
});

// ---- bodies --------------------------------------------------------------------------------------------

test('malformed JSON and non-object bodies are 400 invalid_request_error', async () => {
  const vault = await ctx.client.beta.vaults.create({ display_name: 'body target' });
  for (const body of ['{"display_name":', '{display_name: "x"}', '{"display_name":"a"} trailing', '[]', '"x"', '42', 'null', '\u0000']) {
    assertRawError(await ctx.raw('POST', '/v1/vaults', { body }), 400, 'invalid_request_error');
    assertRawError(await ctx.raw('POST', `/v1/vaults/${vault.id}`, { body }), 400, 'invalid_request_error');
  }
  assert.deepEqual(await ctx.client.beta.vaults.retrieve(vault.id), vault);
});

test('a POST with an empty body is "no body" whatever its content-type', async () => {
  const vault = await ctx.client.beta.vaults.create({ display_name: 'empty bodies', metadata: { k: 'v' } });
  const noType = await ctx.raw('POST', `/v1/vaults/${vault.id}`);
  assert.equal(noType.status, 200);
  assert.deepEqual(noType.json.metadata, { k: 'v' });
  const jsonType = await ctx.raw('POST', `/v1/vaults/${vault.id}`, { body: '', headers: { 'content-type': 'application/json' } });
  assert.equal(jsonType.status, 200);
  assert.equal(jsonType.json.display_name, 'empty bodies');
  const archived = await ctx.raw('POST', `/v1/vaults/${vault.id}/archive`, { body: '', headers: { 'content-type': 'application/json' } });
  assert.equal(archived.status, 200);
  assert.equal(typeof archived.json.archived_at, 'string');
  assertRawError(await ctx.raw('POST', '/v1/vaults', { body: '' }), 400, 'invalid_request_error');
});

test('the error body has exactly type, error {type, message} and request_id equal to the header', async () => {
  const err = await expectApiError(ctx.client.beta.vaults.retrieve('vlt_nothing_here'),
    { cls: Anthropic.NotFoundError, status: 404, type: 'not_found_error' });
  assert.equal(err.error.request_id, err.requestID);
  assert.match(err.requestID, /^\S+$/);
});

// ---- paging details ------------------------------------------------------------------------------------

test('an empty page= is treated as absent', async () => {
  const res = await ctx.raw('GET', '/v1/vaults?page=&limit=5');
  assert.equal(res.status, 200);
  assert.ok(Array.isArray(res.json.data));
  const viaSdk = await ctx.client.beta.vaults.list({ page: null, limit: 5 });
  assert.deepEqual(viaSdk.data.map((v) => v.id), res.json.data.map((v) => v.id));
});

test('a garbage page cursor is 400, not a crash', async () => {
  assertRawError(await ctx.raw('GET', '/v1/vaults?page=%%%not-a-cursor'), 400, 'invalid_request_error');
  assertRawError(await ctx.raw('GET', '/v1/vaults?page=bm90LWEtY3Vyc29y'), 400, 'invalid_request_error');
});

// ---- Idempotency-Key -----------------------------------------------------------------------------------

test('Idempotency-Key: the same key and body return the first response and create one vault', async () => {
  const key = crypto.randomUUID();
  const name = `idem ${key}`;
  const first = await ctx.raw('POST', '/v1/vaults', { headers: { 'Idempotency-Key': key }, body: { display_name: name } });
  assert.equal(first.status, 200);
  const second = await ctx.raw('POST', '/v1/vaults', { headers: { 'Idempotency-Key': key }, body: { display_name: name } });
  assert.equal(second.status, 200);
  assert.deepEqual(second.json, first.json);
  const listed = await collect(ctx.client.beta.vaults.list({ limit: 100, include_archived: true }));
  assert.equal(listed.filter((v) => v.display_name === name).length, 1);

  const other = await ctx.raw('POST', '/v1/vaults', {
    headers: { 'Idempotency-Key': crypto.randomUUID() }, body: { display_name: name },
  });
  assert.notEqual(other.json.id, first.json.id, 'a new key creates a new vault');
});

test('Idempotency-Key: the same key with a different body is 409', async () => {
  const key = crypto.randomUUID();
  const first = await ctx.raw('POST', '/v1/vaults', { headers: { 'Idempotency-Key': key }, body: { display_name: 'idem a' } });
  assert.equal(first.status, 200);
  const clash = await ctx.raw('POST', '/v1/vaults', { headers: { 'Idempotency-Key': key }, body: { display_name: 'idem b' } });
  assertRawError(clash, 409, 'conflict_error');
  assert.equal(clash.headers.get('x-should-retry'), 'false');
  const listed = await collect(ctx.client.beta.vaults.list({ limit: 100, include_archived: true }));
  assert.equal(listed.filter((v) => v.display_name === 'idem b').length, 0);
});

test('Idempotency-Key through the SDK headers option', async () => {
  const key = crypto.randomUUID();
  const a = await ctx.client.beta.vaults.create({ display_name: 'sdk idem' }, { headers: { 'Idempotency-Key': key } });
  const b = await ctx.client.beta.vaults.create({ display_name: 'sdk idem' }, { headers: { 'Idempotency-Key': key } });
  assert.equal(b.id, a.id);
  assert.deepEqual({ ...b }, { ...a });
  const mark = ctx.rec.count;
  await expectApiError(
    ctx.client.beta.vaults.create({ display_name: 'sdk idem changed' }, { headers: { 'Idempotency-Key': key } }),
    { cls: Anthropic.ConflictError, status: 409 });
  assert.equal(ctx.rec.count - mark, 1, 'the conflict was not retried');
});

test('Idempotency-Key on a credential create replays without the secret', async () => {
  const vault = await ctx.client.beta.vaults.create({ display_name: 'idem creds' });
  const key = crypto.randomUUID();
  const body = {
    auth: {
      type: 'environment_variable', secret_name: 'IDEM_TOKEN', secret_value: ctx.secret('idem'),
      networking: { type: 'unrestricted' },
    },
  };
  const first = await ctx.raw('POST', `/v1/vaults/${vault.id}/credentials`, { headers: { 'Idempotency-Key': key }, body });
  assert.equal(first.status, 200);
  const replay = await ctx.raw('POST', `/v1/vaults/${vault.id}/credentials`, { headers: { 'Idempotency-Key': key }, body });
  assert.equal(replay.status, 200);
  assert.deepEqual(replay.json, first.json);
  // Without the key the same body is a second credential with the same name: a conflict.
  const dup = await ctx.raw('POST', `/v1/vaults/${vault.id}/credentials`, { body });
  assertRawError(dup, 409, 'conflict_error');
  assert.equal(dup.headers.get('x-should-retry'), 'false');
});

// ---- bytes that are not UTF-8 ---------------------------------------------------------------------------

// The exact error body Airlock writes (its JSON object keys are sorted).
function errorText(type, message, requestId) {
  return JSON.stringify({ error: { message, type }, request_id: requestId, type: 'error' });
}

test('invalid UTF-8 or NUL in an id is a 404 quoting the bytes as \\xHH, not a dropped connection', async () => {
  const auth = `Authorization: Bearer ${primaryKey}\r\nHost: airlock.test`;
  for (const [target, id] of [['/v1/vaults/x%ffy', 'x\\xffy'], ['/v1/vaults/x%00y', 'x\\x00y']]) {
    const res = await rawSocketRequest(ctx.daemon, `GET ${target} HTTP/1.1\r\n${auth}`);
    assert.equal(res.status, 404, `GET ${target}: ${res.raw ?? res.text}`);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(res.text, errorText('not_found_error', `vault ${id} was not found`, res.headers['request-id']));
  }
});

test('Idempotency-Key with a 0xff byte: replayed, and reused for another body a 409 quoting it as \\xHH', async () => {
  const suffix = crypto.randomUUID();
  const head = `POST /v1/vaults HTTP/1.1\r\nAuthorization: Bearer ${primaryKey}\r\nHost: airlock.test\r\n`
    + `Content-Type: application/json\r\nIdempotency-Key: idem-\xff-${suffix}`;
  const first = await rawSocketRequest(ctx.daemon, head, JSON.stringify({ display_name: 'idem 0xff a' }));
  assert.equal(first.status, 200, first.raw ?? first.text);
  const replay = await rawSocketRequest(ctx.daemon, head, JSON.stringify({ display_name: 'idem 0xff a' }));
  assert.equal(replay.status, 200, replay.raw ?? replay.text);
  assert.equal(replay.headers['idempotent-replayed'], 'true');
  assert.equal(replay.text, first.text);
  const clash = await rawSocketRequest(ctx.daemon, head, JSON.stringify({ display_name: 'idem 0xff b' }));
  assert.equal(clash.status, 409, clash.raw ?? clash.text);
  assert.equal(clash.headers['x-should-retry'], 'false');
  assert.equal(clash.text, errorText('conflict_error',
    `Idempotency-Key "idem-\\xff-${suffix}" was already used for a different request; use a new key for a new request`,
    clash.headers['request-id']));
});

// ---- every response ------------------------------------------------------------------------------------

test('every response had a JSON content type, a JSON body and a unique request-id', () => {
  ctx.assertResponsesWellFormed();
  assert.ok(ctx.rec.count > 50, `checked ${ctx.rec.count} responses`);
});

test('no response and no daemon output contained a secret', () => {
  ctx.assertNoSecretsLeaked();
});
