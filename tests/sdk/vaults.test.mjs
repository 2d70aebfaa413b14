// Vaults through the official SDK: create, retrieve, update (metadata patch), list, archive, delete, and
// the validation rules of API.md §1 and §7.7 (display_name 1–255, metadata 16/64/512).
import assert from 'node:assert/strict';

import {
  Anthropic, assertId, assertKeys, assertNewestFirst, assertTimestamp, collect, expectApiError, instantNs, range, useDaemon,
} from './lib/harness.mjs';

const ctx = useDaemon();
const test = ctx.test;

const kVaultKeys = ['id', 'type', 'display_name', 'metadata', 'created_at', 'updated_at', 'archived_at'];

function assertVault(vault, { display_name, metadata = {} }) {
  assertKeys(vault, kVaultKeys, 'vault');
  assertId(vault.id, 'vlt');
  assert.equal(vault.type, 'vault');
  assert.equal(vault.display_name, display_name);
  assert.deepEqual(vault.metadata, metadata);
  assertTimestamp(vault.created_at, 'created_at');
  assertTimestamp(vault.updated_at, 'updated_at');
  assert.ok(instantNs(vault.updated_at) >= instantNs(vault.created_at), 'updated_at >= created_at');
}

function metadataOf(n, prefix = 'k') {
  return Object.fromEntries(range(n).map((i) => [`${prefix}${i}`, `v${i}`]));
}

test('create returns the vault with exactly the values sent', async () => {
  const vault = await ctx.client.beta.vaults.create({
    display_name: 'Alice',
    metadata: { external_user_id: 'usr_abc123', tier: 'gold' },
  });
  assertVault(vault, { display_name: 'Alice', metadata: { external_user_id: 'usr_abc123', tier: 'gold' } });
  assert.equal(vault.archived_at, null);
  assert.ok(vault._request_id, 'the SDK exposes the request-id header');
});

test('create without metadata returns metadata {}', async () => {
  const vault = await ctx.client.beta.vaults.create({ display_name: 'No metadata' });
  assertVault(vault, { display_name: 'No metadata', metadata: {} });
});

test('retrieve returns the same object as create', async () => {
  const created = await ctx.client.beta.vaults.create({ display_name: 'Bob', metadata: { a: '1' } });
  const fetched = await ctx.client.beta.vaults.retrieve(created.id);
  assert.deepEqual(fetched, created);
});

test('ids are unique', async () => {
  const ids = new Set();
  for (const i of range(5)) ids.add((await ctx.client.beta.vaults.create({ display_name: `u${i}` })).id);
  assert.equal(ids.size, 5);
});

test('update display_name keeps metadata, id and created_at', async () => {
  const created = await ctx.client.beta.vaults.create({ display_name: 'Before', metadata: { keep: 'me' } });
  const updated = await ctx.client.beta.vaults.update(created.id, { display_name: 'After' });
  assertVault(updated, { display_name: 'After', metadata: { keep: 'me' } });
  assert.equal(updated.id, created.id);
  assert.equal(updated.created_at, created.created_at);
  assert.equal(updated.archived_at, null);
  assert.ok(instantNs(updated.updated_at) >= instantNs(created.updated_at));
  assert.deepEqual(await ctx.client.beta.vaults.retrieve(created.id), updated);
});

test('metadata update is a patch: string upserts, null deletes, omitted keys are kept', async () => {
  const created = await ctx.client.beta.vaults.create({
    display_name: 'Patch', metadata: { a: '1', b: '2', c: '3' },
  });
  const updated = await ctx.client.beta.vaults.update(created.id, {
    metadata: { a: '10', b: null, d: '4' },
  });
  assert.deepEqual(updated.metadata, { a: '10', c: '3', d: '4' });
  assert.equal(updated.display_name, 'Patch');

  // An empty string is a value for vaults (only environments delete on "").
  const empty = await ctx.client.beta.vaults.update(created.id, { metadata: { c: '' } });
  assert.deepEqual(empty.metadata, { a: '10', c: '', d: '4' });

  // Deleting a key that does not exist is not an error.
  const noop = await ctx.client.beta.vaults.update(created.id, { metadata: { zz: null } });
  assert.deepEqual(noop.metadata, { a: '10', c: '', d: '4' });

  assert.deepEqual((await ctx.client.beta.vaults.retrieve(created.id)).metadata, { a: '10', c: '', d: '4' });
});

test('update with null display_name, null metadata or an empty body keeps everything', async () => {
  const created = await ctx.client.beta.vaults.create({ display_name: 'Keep', metadata: { x: 'y' } });
  for (const body of [{ display_name: null }, { metadata: null }, {}]) {
    const updated = await ctx.client.beta.vaults.update(created.id, body);
    assert.equal(updated.display_name, 'Keep', JSON.stringify(body));
    assert.deepEqual(updated.metadata, { x: 'y' }, JSON.stringify(body));
  }
});

test('display_name must be 1–255 characters', async () => {
  const ok = await ctx.client.beta.vaults.create({ display_name: 'n'.repeat(255) });
  assert.equal(ok.display_name, 'n'.repeat(255));
  await expectApiError(ctx.client.beta.vaults.create({ display_name: 'n'.repeat(256) }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', path: 'display_name' });
  await expectApiError(ctx.client.beta.vaults.create({ display_name: '' }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', path: 'display_name' });
  await expectApiError(ctx.client.beta.vaults.update(ok.id, { display_name: 'n'.repeat(256) }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', path: 'display_name' });
  await expectApiError(ctx.client.beta.vaults.update(ok.id, { display_name: '' }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', path: 'display_name' });
  assert.equal((await ctx.client.beta.vaults.retrieve(ok.id)).display_name, 'n'.repeat(255));
});

test('display_name length counts characters, not bytes', async () => {
  const ok = await ctx.client.beta.vaults.create({ display_name: 'é'.repeat(255) });
  assert.equal(ok.display_name, 'é'.repeat(255));
  await expectApiError(ctx.client.beta.vaults.create({ display_name: 'é'.repeat(256) }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', path: 'display_name' });
  const mixed = await ctx.client.beta.vaults.create({ display_name: 'Zürich — 東京', metadata: { 'clé': 'valeur ✓' } });
  assert.equal(mixed.display_name, 'Zürich — 東京');
  assert.deepEqual(mixed.metadata, { 'clé': 'valeur ✓' });
  assert.deepEqual(await ctx.client.beta.vaults.retrieve(mixed.id), mixed);
});

test('concurrent creates all succeed with distinct ids', async () => {
  const made = await Promise.all(range(20).map((i) => ctx.client.beta.vaults.create({ display_name: `parallel ${i}` })));
  assert.equal(new Set(made.map((v) => v.id)).size, 20);
  for (const v of made) assert.deepEqual(await ctx.client.beta.vaults.retrieve(v.id), v);
});

test('display_name is required and must be a string', async () => {
  await expectApiError(ctx.client.beta.vaults.create({}),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', path: 'display_name' });
  await expectApiError(ctx.client.beta.vaults.create({ display_name: 123 }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', path: 'display_name' });
  await expectApiError(ctx.client.beta.vaults.create({ display_name: null }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', path: 'display_name' });
  await expectApiError(ctx.client.beta.vaults.create({ display_name: ['x'] }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', path: 'display_name' });
});

test('metadata must be an object of strings', async () => {
  await expectApiError(ctx.client.beta.vaults.create({ display_name: 'm', metadata: { a: 1 } }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', pathPrefix: 'metadata' });
  await expectApiError(ctx.client.beta.vaults.create({ display_name: 'm', metadata: ['a'] }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', pathPrefix: 'metadata' });
  await expectApiError(ctx.client.beta.vaults.create({ display_name: 'm', metadata: 'a=b' }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', pathPrefix: 'metadata' });
  // null deletes only in an update; in a create it is not a string.
  await expectApiError(ctx.client.beta.vaults.create({ display_name: 'm', metadata: { a: null } }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', pathPrefix: 'metadata' });
});

test('metadata limits on create: 16 pairs, keys ≤ 64, values ≤ 512', async () => {
  const max = await ctx.client.beta.vaults.create({ display_name: 'max', metadata: metadataOf(16) });
  assert.deepEqual(max.metadata, metadataOf(16));
  await expectApiError(ctx.client.beta.vaults.create({ display_name: 'x', metadata: metadataOf(17) }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', pathPrefix: 'metadata' });

  const key64 = 'k'.repeat(64);
  const long = await ctx.client.beta.vaults.create({ display_name: 'k64', metadata: { [key64]: 'v' } });
  assert.deepEqual(long.metadata, { [key64]: 'v' });
  await expectApiError(ctx.client.beta.vaults.create({ display_name: 'x', metadata: { ['k'.repeat(65)]: 'v' } }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', pathPrefix: 'metadata' });

  const value512 = 'v'.repeat(512);
  const big = await ctx.client.beta.vaults.create({ display_name: 'v512', metadata: { k: value512 } });
  assert.deepEqual(big.metadata, { k: value512 });
  await expectApiError(ctx.client.beta.vaults.create({ display_name: 'x', metadata: { k: 'v'.repeat(513) } }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', pathPrefix: 'metadata' });
});

test('metadata limits apply to the bag after an update patch', async () => {
  const vault = await ctx.client.beta.vaults.create({ display_name: 'full', metadata: metadataOf(16) });
  await expectApiError(ctx.client.beta.vaults.update(vault.id, { metadata: { extra: 'x' } }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', pathPrefix: 'metadata' });
  assert.deepEqual((await ctx.client.beta.vaults.retrieve(vault.id)).metadata, metadataOf(16));

  // Deleting one key and adding another stays at 16.
  const swapped = await ctx.client.beta.vaults.update(vault.id, { metadata: { k0: null, extra: 'x' } });
  const expected = { ...metadataOf(16), extra: 'x' };
  delete expected.k0;
  assert.deepEqual(swapped.metadata, expected);

  await expectApiError(ctx.client.beta.vaults.update(vault.id, { metadata: { k1: 'v'.repeat(513) } }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', pathPrefix: 'metadata' });
  await expectApiError(ctx.client.beta.vaults.update(vault.id, { metadata: { k1: null, ['k'.repeat(65)]: 'v' } }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', pathPrefix: 'metadata' });
  // Deleting a key that is not stored is a no-op, whatever its length: the stored bag is what is limited.
  const noop = await ctx.client.beta.vaults.update(vault.id, { metadata: { ['k'.repeat(65)]: null } });
  assert.deepEqual(noop.metadata, expected);
  assert.deepEqual((await ctx.client.beta.vaults.retrieve(vault.id)).metadata, expected);
});

test('archive sets archived_at and hides the vault from lists unless include_archived', async () => {
  const vault = await ctx.client.beta.vaults.create({ display_name: 'to archive', metadata: { m: 'n' } });
  const archived = await ctx.client.beta.vaults.archive(vault.id);
  assertVault(archived, { display_name: 'to archive', metadata: { m: 'n' } });
  assert.equal(archived.id, vault.id);
  assertTimestamp(archived.archived_at, 'archived_at');
  assert.ok(instantNs(archived.archived_at) >= instantNs(vault.created_at));
  assert.deepEqual(await ctx.client.beta.vaults.retrieve(vault.id), archived);

  const active = await collect(ctx.client.beta.vaults.list({ limit: 100 }));
  assert.ok(!active.some((v) => v.id === vault.id), 'archived vault listed without include_archived');
  assert.ok(active.every((v) => v.archived_at === null));
  const all = await collect(ctx.client.beta.vaults.list({ limit: 100, include_archived: true }));
  assert.deepEqual(all.filter((v) => v.id === vault.id), [archived]);
  const explicitFalse = await collect(ctx.client.beta.vaults.list({ limit: 100, include_archived: false }));
  assert.deepEqual(explicitFalse.map((v) => v.id), active.map((v) => v.id));
});

test('list returns the created vaults, newest first, with objects equal to retrieve', async () => {
  const mine = [];
  for (const i of range(3)) mine.push(await ctx.client.beta.vaults.create({ display_name: `list ${i}` }));
  const listed = await collect(ctx.client.beta.vaults.list({ limit: 100 }));
  const ids = listed.map((v) => v.id);
  assert.equal(new Set(ids).size, ids.length, 'no duplicates');
  for (const v of mine) assert.deepEqual(listed.find((x) => x.id === v.id), v);
  assertNewestFirst(listed);
});

test('list page has exactly data and next_page', async () => {
  const res = await ctx.raw('GET', '/v1/vaults?limit=100');
  assert.equal(res.status, 200);
  assertKeys(res.json, ['data', 'next_page'], 'page');
  assert.ok(Array.isArray(res.json.data));
  assert.equal(res.json.next_page, null);
});

test('list limit: default 20, 1–100 accepted, out of range or not a number is 400', async () => {
  for (const i of range(21)) await ctx.client.beta.vaults.create({ display_name: `limit ${i}` });
  const page = await ctx.client.beta.vaults.list();
  assert.equal(page.data.length, 20);
  assert.equal(page.hasNextPage(), true);
  assert.equal((await ctx.client.beta.vaults.list({ limit: 1 })).data.length, 1);
  assert.ok((await ctx.client.beta.vaults.list({ limit: 100 })).data.length > 20);
  for (const limit of [0, 101, -1]) {
    await expectApiError(ctx.client.beta.vaults.list({ limit }),
      { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', path: 'limit' });
  }
  await expectApiError(ctx.client.beta.vaults.list({ limit: 'abc' }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', path: 'limit' });
});

test('delete returns {id, type: "vault_deleted"} and the vault is gone', async () => {
  const vault = await ctx.client.beta.vaults.create({ display_name: 'to delete' });
  const deleted = await ctx.client.beta.vaults.delete(vault.id);
  assert.deepEqual({ ...deleted }, { id: vault.id, type: 'vault_deleted' });
  await expectApiError(ctx.client.beta.vaults.retrieve(vault.id),
    { cls: Anthropic.NotFoundError, status: 404, type: 'not_found_error' });
  await expectApiError(ctx.client.beta.vaults.delete(vault.id),
    { cls: Anthropic.NotFoundError, status: 404, type: 'not_found_error' });
  const listed = await collect(ctx.client.beta.vaults.list({ limit: 100, include_archived: true }));
  assert.ok(!listed.some((v) => v.id === vault.id));
});

test('an archived vault can be deleted', async () => {
  const vault = await ctx.client.beta.vaults.create({ display_name: 'archive then delete' });
  await ctx.client.beta.vaults.archive(vault.id);
  const deleted = await ctx.client.beta.vaults.delete(vault.id);
  assert.deepEqual({ ...deleted }, { id: vault.id, type: 'vault_deleted' });
  await expectApiError(ctx.client.beta.vaults.retrieve(vault.id), { cls: Anthropic.NotFoundError, status: 404 });
});

test('unknown vault ids are 404 not_found_error on every endpoint', async () => {
  const id = 'vlt_011CZkZDLs7fYzm1hXNPeRjv';
  const nf = { cls: Anthropic.NotFoundError, status: 404, type: 'not_found_error' };
  await expectApiError(ctx.client.beta.vaults.retrieve(id), nf);
  await expectApiError(ctx.client.beta.vaults.update(id, { display_name: 'x' }), nf);
  await expectApiError(ctx.client.beta.vaults.archive(id), nf);
  await expectApiError(ctx.client.beta.vaults.delete(id), nf);
  await expectApiError(ctx.client.beta.vaults.retrieve('not-an-id'), nf);
});

test('update of an unknown id with a valid body is 404', async () => {
  await expectApiError(ctx.client.beta.vaults.update('vlt_unknown', { metadata: { a: 'b' } }),
    { cls: Anthropic.NotFoundError, status: 404, type: 'not_found_error' });
});

test('the SDK does not retry a 4xx: one request per call', async () => {
  const mark = ctx.rec.count;
  await expectApiError(ctx.client.beta.vaults.create({ display_name: '' }), { status: 400 });
  await expectApiError(ctx.client.beta.vaults.retrieve('vlt_missing'), { status: 404 });
  assert.equal(ctx.rec.count - mark, 2);
});

test('every response had a JSON content type, a JSON body and a unique request-id', () => {
  ctx.assertResponsesWellFormed();
});
