// Environments through the official SDK: create (default config of API.md §9), limited networking
// defaults, packages, self_hosted, update (config sub-fields kept, metadata deletes on null and ""), the
// typed error details (invalid_config_type_change, environment_archived, invalid_metadata), list, archive
// and delete.
import assert from 'node:assert/strict';

import {
  Anthropic, assertId, assertKeys, assertNewestFirst, assertTimestamp, collect, expectApiError, instantNs, range,
  useDaemon,
} from './lib/harness.mjs';
import {
  BetaEnvironmentArchivedError, BetaInvalidConfigTypeChangeError, BetaInvalidMetadataError,
} from '@anthropic-ai/sdk/resources/beta/environments/environments';

const ctx = useDaemon();
const test = ctx.test;

const bad = { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error' };
const notFound = { cls: Anthropic.NotFoundError, status: 404, type: 'not_found_error' };

const kEmptyPackages = { apt: [], cargo: [], gem: [], go: [], npm: [], pip: [], type: 'packages' };
const kDefaultConfig = { type: 'cloud', networking: { type: 'unrestricted' }, packages: kEmptyPackages };

function assertEnvironment(env, { name, description = null, metadata = {}, config = kDefaultConfig }) {
  const keys = ['id', 'type', 'name', 'description', 'config', 'metadata', 'created_at', 'updated_at', 'archived_at'];
  assertKeys(env, 'scope' in env ? [...keys, 'scope'] : keys, 'environment');
  if ('scope' in env) assert.equal(env.scope, 'organization');
  assertId(env.id, 'env');
  assert.equal(env.type, 'environment');
  assert.equal(env.name, name);
  assert.equal(env.description, description);
  assert.deepEqual(env.metadata, metadata);
  assert.deepEqual(env.config, config);
  assertTimestamp(env.created_at, 'created_at');
  assertTimestamp(env.updated_at, 'updated_at');
  assert.ok(instantNs(env.updated_at) >= instantNs(env.created_at));
}

test('create with only a name gets the default cloud config', async () => {
  const env = await ctx.client.beta.environments.create({ name: 'default' });
  assertEnvironment(env, { name: 'default' });
  assert.equal(env.archived_at, null);
  assert.deepEqual(await ctx.client.beta.environments.retrieve(env.id), env);

  const nullConfig = await ctx.client.beta.environments.create({ name: 'null config', config: null });
  assertEnvironment(nullConfig, { name: 'null config' });
  const bareCloud = await ctx.client.beta.environments.create({ name: 'bare cloud', config: { type: 'cloud' } });
  assertEnvironment(bareCloud, { name: 'bare cloud' });
});

test('create echoes description, metadata and scope', async () => {
  const env = await ctx.client.beta.environments.create({
    name: 'described', description: 'for reports', metadata: { team: 'data' }, scope: 'organization',
  });
  assertEnvironment(env, { name: 'described', description: 'for reports', metadata: { team: 'data' } });
  await expectApiError(ctx.client.beta.environments.create({ name: 'acct', scope: 'account' }), { ...bad, path: 'scope' });
});

test('limited networking gets allow_mcp_servers and allow_package_managers false (API.md §8 step 5)', async () => {
  const env = await ctx.client.beta.environments.create({
    name: 'reports',
    config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: ['api.example.com'] } },
  });
  assertEnvironment(env, {
    name: 'reports',
    config: {
      type: 'cloud',
      networking: { type: 'limited', allowed_hosts: ['api.example.com'], allow_mcp_servers: false, allow_package_managers: false },
      packages: kEmptyPackages,
    },
  });

  const open = await ctx.client.beta.environments.create({
    name: 'limited with flags',
    config: {
      type: 'cloud',
      networking: { type: 'limited', allowed_hosts: ['a.example.com', 'b.example.com'], allow_mcp_servers: true, allow_package_managers: true },
      packages: { pip: ['requests==2.31.0'], npm: ['left-pad'] },
    },
  });
  assert.deepEqual(open.config, {
    type: 'cloud',
    networking: { type: 'limited', allowed_hosts: ['a.example.com', 'b.example.com'], allow_mcp_servers: true, allow_package_managers: true },
    packages: { ...kEmptyPackages, pip: ['requests==2.31.0'], npm: ['left-pad'] },
  });
});

test('packages are echoed with every manager present', async () => {
  const env = await ctx.client.beta.environments.create({
    name: 'packages',
    config: {
      type: 'cloud',
      packages: { apt: ['jq'], cargo: ['ripgrep'], gem: ['rake'], go: ['golang.org/x/tools/cmd/goimports@latest'], npm: ['typescript'], pip: ['pandas'], type: 'packages' },
    },
  });
  assert.deepEqual(env.config, {
    type: 'cloud',
    networking: { type: 'unrestricted' },
    packages: { apt: ['jq'], cargo: ['ripgrep'], gem: ['rake'], go: ['golang.org/x/tools/cmd/goimports@latest'], npm: ['typescript'], pip: ['pandas'], type: 'packages' },
  });
});

test('limited networking with packages requires allow_package_managers', async () => {
  await expectApiError(ctx.client.beta.environments.create({
    name: 'x',
    config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: ['a.example.com'] }, packages: { pip: ['x'] } },
  }), { ...bad, pathPrefix: 'config.' });
});

test('self_hosted config', async () => {
  const env = await ctx.client.beta.environments.create({ name: 'self', config: { type: 'self_hosted' } });
  assertEnvironment(env, { name: 'self', config: { type: 'self_hosted' } });
});

test('create validation', async () => {
  await expectApiError(ctx.client.beta.environments.create({}), { ...bad, path: 'name' });
  await expectApiError(ctx.client.beta.environments.create({ name: 3 }), { ...bad, path: 'name' });
  await expectApiError(ctx.client.beta.environments.create({ name: 'x', config: { type: 'moon' } }), { ...bad, path: 'config.type' });
  await expectApiError(ctx.client.beta.environments.create({ name: 'x', config: { type: 'cloud', networking: { type: 'sometimes' } } }),
    { ...bad, path: 'config.networking.type' });
  await expectApiError(ctx.client.beta.environments.create({ name: 'x', config: { type: 'cloud', packages: { pip: 'pandas' } } }),
    { ...bad, path: 'config.packages.pip' });
  await expectApiError(ctx.client.beta.environments.create({ name: 'x', description: 4 }), { ...bad, path: 'description' });
});

test('metadata limits give 400 with error_code invalid_metadata', async () => {
  const cases = [
    Object.fromEntries(range(17).map((i) => [`k${i}`, 'v'])),
    { ['k'.repeat(65)]: 'v' },
    { k: 'v'.repeat(513) },
  ];
  for (const metadata of cases) {
    await expectApiError(ctx.client.beta.environments.create({ name: 'meta', metadata }),
      { ...bad, cls: BetaInvalidMetadataError, errorCode: 'invalid_metadata', pathPrefix: 'metadata' });
  }
  const ok = await ctx.client.beta.environments.create({
    name: 'meta ok', metadata: Object.fromEntries(range(16).map((i) => [`k${i}`.padEnd(64, 'x'), 'v'.repeat(512)])),
  });
  assert.equal(Object.keys(ok.metadata).length, 16);
  await expectApiError(ctx.client.beta.environments.update(ok.id, { metadata: { extra: 'v' } }),
    { ...bad, cls: BetaInvalidMetadataError, errorCode: 'invalid_metadata', pathPrefix: 'metadata' });
});

test('update: name, description (null → null, "" stored), metadata deletes on null and ""', async () => {
  const env = await ctx.client.beta.environments.create({
    name: 'upd', description: 'd', metadata: { a: '1', b: '2', c: '3' },
  });
  const renamed = await ctx.client.beta.environments.update(env.id, { name: 'upd2' });
  assertEnvironment(renamed, { name: 'upd2', description: 'd', metadata: { a: '1', b: '2', c: '3' } });
  assert.equal(renamed.created_at, env.created_at);

  const emptyDescription = await ctx.client.beta.environments.update(env.id, { description: '' });
  assert.equal(emptyDescription.description, '');
  const nullDescription = await ctx.client.beta.environments.update(env.id, { description: null });
  assert.equal(nullDescription.description, null);

  const patched = await ctx.client.beta.environments.update(env.id, { metadata: { a: null, b: '', d: '4' } });
  assert.deepEqual(patched.metadata, { c: '3', d: '4' });
  const kept = await ctx.client.beta.environments.update(env.id, {});
  assertEnvironment(kept, { name: 'upd2', description: null, metadata: { c: '3', d: '4' } });
});

test('update config: omitted sub-fields are kept, given ones replaced', async () => {
  const env = await ctx.client.beta.environments.create({
    name: 'cfg',
    config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: ['a.example.com'], allow_package_managers: true }, packages: { pip: ['x'] } },
  });
  const morePackages = await ctx.client.beta.environments.update(env.id, {
    config: { type: 'cloud', packages: { pip: ['y'], apt: ['z'] } },
  });
  assert.deepEqual(morePackages.config, {
    type: 'cloud',
    networking: { type: 'limited', allowed_hosts: ['a.example.com'], allow_mcp_servers: false, allow_package_managers: true },
    packages: { ...kEmptyPackages, pip: ['y'], apt: ['z'] },
  });
  const unrestricted = await ctx.client.beta.environments.update(env.id, {
    config: { type: 'cloud', networking: { type: 'unrestricted' } },
  });
  assert.deepEqual(unrestricted.config, {
    type: 'cloud', networking: { type: 'unrestricted' }, packages: { ...kEmptyPackages, pip: ['y'], apt: ['z'] },
  });
  const noConfig = await ctx.client.beta.environments.update(env.id, { name: 'cfg2' });
  assert.deepEqual(noConfig.config, unrestricted.config);
});

test('update config.type change is 400 invalid_config_type_change', async () => {
  const env = await ctx.client.beta.environments.create({ name: 'typed' });
  await expectApiError(ctx.client.beta.environments.update(env.id, { config: { type: 'self_hosted' } }),
    { ...bad, cls: BetaInvalidConfigTypeChangeError, errorCode: 'invalid_config_type_change', pathPrefix: 'config.type' });
  assert.deepEqual(await ctx.client.beta.environments.retrieve(env.id), env);
});

test('archive, then update is 400 environment_archived; lists hide it unless include_archived', async () => {
  const env = await ctx.client.beta.environments.create({ name: 'old' });
  const archived = await ctx.client.beta.environments.archive(env.id);
  assertEnvironment(archived, { name: 'old' });
  assertTimestamp(archived.archived_at, 'archived_at');
  assert.deepEqual(await ctx.client.beta.environments.retrieve(env.id), archived);
  await expectApiError(ctx.client.beta.environments.update(env.id, { name: 'new' }),
    { ...bad, cls: BetaEnvironmentArchivedError, errorCode: 'environment_archived' });

  const active = await collect(ctx.client.beta.environments.list({ limit: 100 }));
  assert.ok(!active.some((e) => e.id === env.id));
  assertNewestFirst(active);
  const all = await collect(ctx.client.beta.environments.list({ limit: 100, include_archived: true }));
  assert.deepEqual(all.find((e) => e.id === env.id), archived);
  assertNewestFirst(all);
});

test('list pages through every environment once', async () => {
  const made = [];
  for (const i of range(12)) made.push(await ctx.client.beta.environments.create({ name: `page ${i}` }));
  const all = await collect(ctx.client.beta.environments.list({ limit: 5 }));
  assert.equal(new Set(all.map((e) => e.id)).size, all.length);
  for (const e of made) assert.deepEqual(all.find((x) => x.id === e.id), e);
  assertNewestFirst(all);
});

test('delete returns {id, type: "environment_deleted"} and the environment is gone', async () => {
  const env = await ctx.client.beta.environments.create({ name: 'doomed' });
  const deleted = await ctx.client.beta.environments.delete(env.id);
  assert.deepEqual({ ...deleted }, { id: env.id, type: 'environment_deleted' });
  await expectApiError(ctx.client.beta.environments.retrieve(env.id), notFound);
  await expectApiError(ctx.client.beta.environments.delete(env.id), notFound);
  const archivedThenDeleted = await ctx.client.beta.environments.create({ name: 'doomed too' });
  await ctx.client.beta.environments.archive(archivedThenDeleted.id);
  assert.deepEqual({ ...(await ctx.client.beta.environments.delete(archivedThenDeleted.id)) },
    { id: archivedThenDeleted.id, type: 'environment_deleted' });
});

test('unknown environment ids are 404 not_found_error', async () => {
  const id = 'env_011CZkZ9X2dpNyB7HsEFoRfW';
  await expectApiError(ctx.client.beta.environments.retrieve(id), notFound);
  await expectApiError(ctx.client.beta.environments.update(id, { name: 'x' }), notFound);
  await expectApiError(ctx.client.beta.environments.archive(id), notFound);
  await expectApiError(ctx.client.beta.environments.delete(id), notFound);
});

test('every response had a JSON content type, a JSON body and a unique request-id', () => {
  ctx.assertResponsesWellFormed();
});
