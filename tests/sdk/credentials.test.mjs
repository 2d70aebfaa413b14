// Vault credentials through the official SDK: the three auth variants (environment_variable,
// static_bearer, mcp_oauth) with their create and response shapes, update rules, list, archive, delete,
// uniqueness conflicts, and the validation rules of API.md §2 and §9. Every secret sent is random and
// registered; the last test checks that no response (and no daemon output) ever contained one.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { makeTempDir, randomApiKey, start } from './lib/daemon.mjs';
import {
  Anthropic, assertId, assertInjection, assertKeys, assertNewestFirst, assertSameIds, assertTimestamp, collect,
  expectApiError, instantNs, range, useDaemon,
} from './lib/harness.mjs';

const ctx = useDaemon();
const test = ctx.test;

const kCredentialKeys = [
  'id', 'type', 'vault_id', 'auth', 'display_name', 'metadata', 'created_at', 'updated_at', 'archived_at',
];
const bad = { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error' };
const notFound = { cls: Anthropic.NotFoundError, status: 404, type: 'not_found_error' };
const conflict = { cls: Anthropic.ConflictError, status: 409, type: 'conflict_error' };

let vault;

async function newVault(name = 'creds') {
  return ctx.client.beta.vaults.create({ display_name: name });
}

function assertCredential(cred, { vault_id, display_name = null, metadata = {} }) {
  assertKeys(cred, kCredentialKeys, 'credential');
  assertId(cred.id, 'vcrd');
  assert.equal(cred.type, 'vault_credential');
  assert.equal(cred.vault_id, vault_id);
  assert.equal(cred.display_name, display_name);
  assert.deepEqual(cred.metadata, metadata);
  assertTimestamp(cred.created_at, 'created_at');
  assertTimestamp(cred.updated_at, 'updated_at');
  assert.ok(instantNs(cred.updated_at) >= instantNs(cred.created_at));
}

function envAuth({ secret_name, networking = { type: 'unrestricted' }, injection_location, secret_value } = {}) {
  const auth = {
    type: 'environment_variable',
    secret_name,
    secret_value: secret_value ?? ctx.secret('env'),
    networking,
  };
  if (injection_location !== undefined) auth.injection_location = injection_location;
  return auth;
}

let nameCounter = 0;
function uniqueName(prefix = 'SECRET') {
  nameCounter += 1;
  return `${prefix}_${nameCounter}`;
}

async function createEnv(vaultId, options = {}, extra = {}) {
  return ctx.client.beta.vaults.credentials.create(vaultId, {
    auth: envAuth({ secret_name: uniqueName(), ...options }),
    ...extra,
  });
}

// The auth of an environment_variable response, checked field by field (injection_location may carry
// Airlock's `url` extension key).
function assertEnvAuth(auth, { secret_name, networking, injection_location }) {
  assertKeys(auth, ['type', 'secret_name', 'networking', 'injection_location'], 'auth');
  assert.equal(auth.type, 'environment_variable');
  assert.equal(auth.secret_name, secret_name);
  assert.deepEqual(auth.networking, networking);
  assertInjection(auth.injection_location, injection_location);
}

test('setup: a vault', async () => {
  vault = await newVault();
});

// ---- environment_variable ------------------------------------------------------------------------------

test('environment_variable: create echoes everything but the secret (API.md §8 step 2)', async () => {
  const secret_value = ctx.secret('sk-live');
  const cred = await ctx.client.beta.vaults.credentials.create(vault.id, {
    display_name: 'Example API key',
    metadata: { owner: 'ops' },
    auth: {
      type: 'environment_variable',
      secret_name: 'EXAMPLE_API_KEY',
      secret_value,
      networking: { type: 'limited', allowed_hosts: ['api.example.com', '*.example.org', '192.0.2.1'] },
      injection_location: { header: true, body: false },
    },
  });
  assertCredential(cred, { vault_id: vault.id, display_name: 'Example API key', metadata: { owner: 'ops' } });
  assert.equal(cred.archived_at, null);
  assertEnvAuth(cred.auth, {
    secret_name: 'EXAMPLE_API_KEY',
    networking: { type: 'limited', allowed_hosts: ['api.example.com', '*.example.org', '192.0.2.1'] },
    injection_location: { header: true, body: false },
  });
  assert.deepEqual(await ctx.client.beta.vaults.credentials.retrieve(cred.id, { vault_id: vault.id }), cred);
});

test('environment_variable: injection_location omitted → {header: true, body: true}', async () => {
  const name = uniqueName();
  const cred = await ctx.client.beta.vaults.credentials.create(vault.id, { auth: envAuth({ secret_name: name }) });
  assertCredential(cred, { vault_id: vault.id });
  assertEnvAuth(cred.auth, {
    secret_name: name, networking: { type: 'unrestricted' }, injection_location: { header: true, body: true },
  });
});

test('environment_variable: a location left out of injection_location is false', async () => {
  const headerOnly = await createEnv(vault.id, { injection_location: { header: true } });
  assertInjection(headerOnly.auth.injection_location, { header: true, body: false });
  const bodyOnly = await createEnv(vault.id, { injection_location: { body: true } });
  assertInjection(bodyOnly.auth.injection_location, { header: false, body: true });
  const both = await createEnv(vault.id, { injection_location: { header: true, body: true } });
  assertInjection(both.auth.injection_location, { header: true, body: true });
});

test('environment_variable: injection_location with both locations false is 400', async () => {
  for (const injection_location of [{ header: false, body: false }, {}, { header: false }, { body: false }]) {
    await expectApiError(createEnv(vault.id, { injection_location }),
      { ...bad, pathPrefix: 'auth.injection_location' });
  }
  await expectApiError(createEnv(vault.id, { injection_location: { header: 'yes' } }),
    { ...bad, pathPrefix: 'auth.injection_location' });
});

test('environment_variable: Airlock\'s url injection extension is echoed and patched (API.md §9)', async () => {
  const cred = await createEnv(vault.id, { injection_location: { header: true, url: true } });
  assert.deepEqual(cred.auth.injection_location, { header: true, body: false, url: true });
  const updated = await ctx.client.beta.vaults.credentials.update(cred.id, {
    vault_id: vault.id, auth: { type: 'environment_variable', injection_location: { url: false, body: true } },
  });
  assert.deepEqual(updated.auth.injection_location, { header: true, body: true, url: false });
});

test('environment_variable: secret_name format', async () => {
  for (const secret_name of ['A', '_', '_private', 'lower_case', 'MIXED_case_09', 'A'.repeat(128)]) {
    const cred = await createEnv(vault.id, { secret_name });
    assert.equal(cred.auth.secret_name, secret_name);
  }
  for (const secret_name of ['', '1ABC', 'A-B', 'HAS SPACE', 'A.B', 'É', 'A'.repeat(129), 'A$', 'A\nB']) {
    await expectApiError(createEnv(vault.id, { secret_name }), { ...bad, path: 'auth.secret_name' });
  }
  await expectApiError(createEnv(vault.id, { secret_name: 42 }), { ...bad, path: 'auth.secret_name' });
});

test('environment_variable: allowed_hosts accepts bare hosts, IPv4 and *. wildcards', async () => {
  const hosts = ['api.example.com', '192.0.2.1', '*.example.com', '*.api.example.co.uk', 'a-b.example'];
  const cred = await createEnv(vault.id, { networking: { type: 'limited', allowed_hosts: hosts } });
  assert.deepEqual(cred.auth.networking, { type: 'limited', allowed_hosts: hosts });
});

test('environment_variable: allowed_hosts rejects URLs, ports, paths, IPv6 and broad wildcards, naming the index', async () => {
  const rejected = [
    'https://api.example.com',
    'http://api.example.com/',
    'api.example.com:443',
    'api.example.com/v1',
    '2001:db8::1',
    '[2001:db8::1]',
    '::1',
    '*',
    '*.com',
    'api.*.example.com',
    '*example.com',
    '',
    'api example.com',
    'user@api.example.com',
    'api.example.com?x=1',
  ];
  for (const host of rejected) {
    const allowed_hosts = ['ok.example.com', 'also.example.com', host];
    await expectApiError(createEnv(vault.id, { networking: { type: 'limited', allowed_hosts } }),
      { ...bad, path: 'auth.networking.allowed_hosts[2]' });
  }
});

test('environment_variable: allowed_hosts holds at most 16 entries', async () => {
  const sixteen = range(16).map((i) => `h${i}.example.com`);
  const cred = await createEnv(vault.id, { networking: { type: 'limited', allowed_hosts: sixteen } });
  assert.deepEqual(cred.auth.networking.allowed_hosts, sixteen);
  const seventeen = range(17).map((i) => `h${i}.example.com`);
  await expectApiError(createEnv(vault.id, { networking: { type: 'limited', allowed_hosts: seventeen } }),
    { ...bad, path: 'auth.networking.allowed_hosts' });
});

test('environment_variable: missing or mistyped fields are 400 naming the field', async () => {
  const create = (auth, extra = {}) => ctx.client.beta.vaults.credentials.create(vault.id, { auth, ...extra });
  const secret_value = ctx.secret('env');
  const base = { type: 'environment_variable', secret_name: uniqueName(), secret_value, networking: { type: 'unrestricted' } };
  const without = (key) => Object.fromEntries(Object.entries(base).filter(([k]) => k !== key));

  await expectApiError(create(without('secret_name')), { ...bad, path: 'auth.secret_name' });
  await expectApiError(create(without('secret_value')), { ...bad, path: 'auth.secret_value' });
  await expectApiError(create(without('networking')), { ...bad, path: 'auth.networking' });
  await expectApiError(create({ ...base, secret_value: 5 }), { ...bad, path: 'auth.secret_value' });
  await expectApiError(create({ ...base, networking: { type: 'open' } }), { ...bad, path: 'auth.networking.type' });
  await expectApiError(create({ ...base, networking: { type: 'limited' } }),
    { ...bad, path: 'auth.networking.allowed_hosts' });
  await expectApiError(create({ ...base, networking: { type: 'limited', allowed_hosts: 'api.example.com' } }),
    { ...bad, path: 'auth.networking.allowed_hosts' });
  await expectApiError(create({ ...base, networking: { type: 'limited', allowed_hosts: ['ok.example.com', 7] } }),
    { ...bad, path: 'auth.networking.allowed_hosts[1]' });
  await expectApiError(ctx.client.beta.vaults.credentials.create(vault.id, {}), { ...bad, path: 'auth' });
  await expectApiError(create('environment_variable'), { ...bad, path: 'auth' });
  await expectApiError(create({ ...base, type: 'password' }), { ...bad, path: 'auth.type' });
  await expectApiError(create(without('type')), { ...bad, path: 'auth.type' });
  await expectApiError(create(base, { display_name: 'd'.repeat(256) }), { ...bad, path: 'display_name' });
  await expectApiError(create(base, { display_name: 17 }), { ...bad, path: 'display_name' });
  await expectApiError(create(base, { metadata: { k: 1 } }), { ...bad, pathPrefix: 'metadata' });
});

test('display_name up to 255 characters and metadata limits 16/64/512', async () => {
  const cred = await createEnv(vault.id, {}, { display_name: 'd'.repeat(255) });
  assert.equal(cred.display_name, 'd'.repeat(255));
  const sixteen = Object.fromEntries(range(16).map((i) => [`k${i}`, 'v']));
  const full = await createEnv(vault.id, {}, { metadata: sixteen });
  assert.deepEqual(full.metadata, sixteen);
  await expectApiError(createEnv(vault.id, {}, { metadata: { ...sixteen, k16: 'v' } }), { ...bad, pathPrefix: 'metadata' });
  await expectApiError(createEnv(vault.id, {}, { metadata: { ['k'.repeat(65)]: 'v' } }), { ...bad, pathPrefix: 'metadata' });
  await expectApiError(createEnv(vault.id, {}, { metadata: { k: 'v'.repeat(513) } }), { ...bad, pathPrefix: 'metadata' });
  const edge = await createEnv(vault.id, {}, { metadata: { ['k'.repeat(64)]: 'v'.repeat(512) } });
  assert.deepEqual(edge.metadata, { ['k'.repeat(64)]: 'v'.repeat(512) });
});

// ---- static_bearer -------------------------------------------------------------------------------------

test('static_bearer: create echoes mcp_server_url only', async () => {
  const token = ctx.secret('bearer');
  const cred = await ctx.client.beta.vaults.credentials.create(vault.id, {
    display_name: 'Linear',
    auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.linear.example/mcp', token },
  });
  assertCredential(cred, { vault_id: vault.id, display_name: 'Linear' });
  assert.deepEqual(cred.auth, { type: 'static_bearer', mcp_server_url: 'https://mcp.linear.example/mcp' });
  assert.deepEqual(await ctx.client.beta.vaults.credentials.retrieve(cred.id, { vault_id: vault.id }), cred);
});

test('static_bearer: token and mcp_server_url are required', async () => {
  const create = (auth) => ctx.client.beta.vaults.credentials.create(vault.id, { auth });
  await expectApiError(create({ type: 'static_bearer', mcp_server_url: 'https://a.example/mcp' }),
    { ...bad, path: 'auth.token' });
  await expectApiError(create({ type: 'static_bearer', token: ctx.secret('bearer') }),
    { ...bad, path: 'auth.mcp_server_url' });
  await expectApiError(create({ type: 'static_bearer', mcp_server_url: 'https://a.example/mcp', token: 12 }),
    { ...bad, path: 'auth.token' });
});

// ---- secret strength (docs/security.md) ----------------------------------------------------------------

// The refusal of a weak secret value at `field`; it never quotes the value.
function weakMessage(field) {
  return `${field}: too weak: a secret value needs at least 16 bytes and about 64 bits of estimated strength `
    + '(its length times log2 of the number of distinct bytes in it), so that it cannot be guessed through a host '
    + 'that echoes it; use the real API key or token, not a short password or PIN';
}

const kWeakValues = ['1234', '1234567890123456'];

test('a weak secret_value or token is refused at create and update; the message names the field, not the value', async () => {
  const v = await newVault('weak secrets');
  const env = await createEnv(v.id);
  const bearer = await ctx.client.beta.vaults.credentials.create(v.id, {
    auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.strength.example/mcp', token: ctx.secret('bearer') },
  });
  for (const weak of kWeakValues) {
    const attempts = [
      ['auth.secret_value', () => createEnv(v.id, { secret_value: weak })],
      ['auth.token', () => ctx.client.beta.vaults.credentials.create(v.id, {
        auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.weak.example/mcp', token: weak },
      })],
      ['auth.secret_value', () => ctx.client.beta.vaults.credentials.update(env.id, {
        vault_id: v.id, auth: { type: 'environment_variable', secret_value: weak },
      })],
      ['auth.token', () => ctx.client.beta.vaults.credentials.update(bearer.id, {
        vault_id: v.id, auth: { type: 'static_bearer', token: weak },
      })],
    ];
    for (const [field, attempt] of attempts) {
      const err = await expectApiError(attempt(), { ...bad, path: field });
      assert.equal(err.apiMessage, weakMessage(field));
      assert.ok(!JSON.stringify(err.error).includes(weak), `the refusal quotes ${weak}`);
    }
  }
  const listed = await collect(ctx.client.beta.vaults.credentials.list(v.id));
  assertSameIds(listed, [env, bearer], 'nothing was created');

  // Random values are accepted: 20 letters and digits, 32 hex digits.
  const alphanumeric = crypto.randomBytes(30).toString('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, 20);
  const hex = crypto.randomBytes(16).toString('hex');
  assert.equal(alphanumeric.length, 20);
  ctx.secrets.add(alphanumeric);
  ctx.secrets.add(hex);
  await createEnv(v.id, { secret_value: alphanumeric });
  await ctx.client.beta.vaults.credentials.update(bearer.id, {
    vault_id: v.id, auth: { type: 'static_bearer', token: hex },
  });
});

test('credentials.allow_weak_secrets: true stores weak values with a warning naming the credential, not the value', async () => {
  const dataDir = makeTempDir();
  const config = path.join(dataDir, 'airlock.yaml');
  fs.writeFileSync(config, 'credentials:\n  allow_weak_secrets: true\nruntime:\n  default_harness: none\n');
  const apiKey = randomApiKey();
  const daemon = await start({ dataDir, apiKey, args: ['--config', config] });
  let stopped = false;
  try {
    const client = new Anthropic({ apiKey, baseURL: daemon.baseURL, timeout: 30_000 });
    const v = await client.beta.vaults.create({ display_name: 'legacy' });
    const cred = await client.beta.vaults.credentials.create(v.id, {
      auth: { type: 'environment_variable', secret_name: 'LEGACY_PIN', secret_value: '1234', networking: { type: 'unrestricted' } },
    });
    await client.beta.vaults.credentials.update(cred.id, {
      vault_id: v.id, auth: { type: 'environment_variable', secret_value: '1234567890123456' },
    });
    assert.equal((await client.beta.vaults.credentials.retrieve(cred.id, { vault_id: v.id })).auth.secret_name, 'LEGACY_PIN');
    const status = await daemon.stop();
    stopped = true;
    assert.deepEqual(status, { code: 0, signal: null });

    const log = daemon.log();
    assert.match(log, /warn credentials\.allow_weak_secrets is true: weak secret values are stored with a warning/);
    const warnings = log.split('\n').filter((line) => line.includes(`credential ${cred.id} secret_name=LEGACY_PIN:`));
    assert.equal(warnings.length, 2, `one warning for the create and one for the update:\n${log}`);
    for (const line of warnings) {
      const message = line.slice(line.indexOf(' warn ') + 1);  // without the timestamp, whose digits may hold 1234
      assert.match(message, /^warn credential \S+ secret_name=LEGACY_PIN: auth\.secret_value holds a weak secret value /);
      assert.ok(!message.includes('1234'), `the warning quotes the value: ${line}`);
    }
    assert.ok(!log.includes('1234567890123456'), 'the daemon\'s output contains the value');
    fs.rmSync(dataDir, { recursive: true, force: true });
  } finally {
    if (!stopped) {
      process.stderr.write(`\n--- airlock output (tail), data dir ${dataDir} ---\n${daemon.logTail(60)}\n`);
      await daemon.stop();
    }
  }
});

// ---- mcp_oauth -----------------------------------------------------------------------------------------

test('mcp_oauth: create with refresh echoes everything but the secrets', async () => {
  const access_token = ctx.secret('access');
  const refresh_token = ctx.secret('refresh');
  const client_secret = ctx.secret('client-secret');
  const cred = await ctx.client.beta.vaults.credentials.create(vault.id, {
    display_name: 'GitHub MCP',
    metadata: { team: 'platform' },
    auth: {
      type: 'mcp_oauth',
      mcp_server_url: 'https://mcp.github.example/mcp',
      access_token,
      expires_at: '2099-01-01T00:00:00Z',
      refresh: {
        client_id: 'client-123',
        refresh_token,
        token_endpoint: 'https://auth.github.example/oauth/token',
        token_endpoint_auth: { type: 'client_secret_basic', client_secret },
        resource: 'https://mcp.github.example/',
        scope: 'repo read:org',
      },
    },
  });
  assertCredential(cred, { vault_id: vault.id, display_name: 'GitHub MCP', metadata: { team: 'platform' } });
  assert.deepEqual(cred.auth, {
    type: 'mcp_oauth',
    mcp_server_url: 'https://mcp.github.example/mcp',
    expires_at: '2099-01-01T00:00:00Z',
    refresh: {
      client_id: 'client-123',
      token_endpoint: 'https://auth.github.example/oauth/token',
      token_endpoint_auth: { type: 'client_secret_basic' },
      resource: 'https://mcp.github.example/',
      scope: 'repo read:org',
    },
  });
  assert.deepEqual(await ctx.client.beta.vaults.credentials.retrieve(cred.id, { vault_id: vault.id }), cred);
});

test('mcp_oauth: minimal create has no expiry and no refresh', async () => {
  const cred = await ctx.client.beta.vaults.credentials.create(vault.id, {
    auth: { type: 'mcp_oauth', mcp_server_url: 'https://mcp.min.example/mcp', access_token: ctx.secret('access') },
  });
  assertCredential(cred, { vault_id: vault.id });
  const { type, mcp_server_url, expires_at = null, refresh = null, ...rest } = cred.auth;
  assert.deepEqual(rest, {}, 'no other auth keys');
  assert.deepEqual({ type, mcp_server_url, expires_at, refresh },
    { type: 'mcp_oauth', mcp_server_url: 'https://mcp.min.example/mcp', expires_at: null, refresh: null });
});

test('mcp_oauth: token_endpoint_auth none and client_secret_post keep only their type', async () => {
  for (const [i, token_endpoint_auth] of [
    { type: 'none' },
    { type: 'client_secret_post', client_secret: ctx.secret('client-secret') },
  ].entries()) {
    const cred = await ctx.client.beta.vaults.credentials.create(vault.id, {
      auth: {
        type: 'mcp_oauth',
        mcp_server_url: `https://mcp.tea${i}.example/mcp`,
        access_token: ctx.secret('access'),
        refresh: {
          client_id: `client-${i}`,
          refresh_token: ctx.secret('refresh'),
          token_endpoint: `https://auth.tea${i}.example/token`,
          token_endpoint_auth,
        },
      },
    });
    const { resource = null, scope = null, ...refresh } = cred.auth.refresh;
    assert.deepEqual(refresh, {
      client_id: `client-${i}`,
      token_endpoint: `https://auth.tea${i}.example/token`,
      token_endpoint_auth: { type: token_endpoint_auth.type },
    });
    assert.equal(resource, null);
    assert.equal(scope, null);
  }
});

test('mcp_oauth: validation', async () => {
  const create = (auth) => ctx.client.beta.vaults.credentials.create(vault.id, { auth });
  const base = { type: 'mcp_oauth', mcp_server_url: 'https://mcp.val.example/mcp', access_token: ctx.secret('access') };
  await expectApiError(create({ ...base, expires_at: '2001-01-01T00:00:00Z' }), { ...bad, path: 'auth.expires_at' });
  await expectApiError(create({ ...base, expires_at: 'tomorrow' }), { ...bad, path: 'auth.expires_at' });
  await expectApiError(create({ ...base, access_token: undefined }), { ...bad, path: 'auth.access_token' });
  await expectApiError(create({ ...base, mcp_server_url: undefined }), { ...bad, path: 'auth.mcp_server_url' });
  const refresh = {
    client_id: 'c', refresh_token: ctx.secret('refresh'), token_endpoint: 'https://auth.val.example/token',
    token_endpoint_auth: { type: 'none' },
  };
  await expectApiError(create({ ...base, refresh: { ...refresh, client_id: undefined } }),
    { ...bad, path: 'auth.refresh.client_id' });
  await expectApiError(create({ ...base, refresh: { ...refresh, refresh_token: undefined } }),
    { ...bad, path: 'auth.refresh.refresh_token' });
  await expectApiError(create({ ...base, refresh: { ...refresh, token_endpoint: undefined } }),
    { ...bad, path: 'auth.refresh.token_endpoint' });
  await expectApiError(create({ ...base, refresh: { ...refresh, token_endpoint_auth: undefined } }),
    { ...bad, path: 'auth.refresh.token_endpoint_auth' });
  await expectApiError(create({ ...base, refresh: { ...refresh, token_endpoint_auth: { type: 'client_secret_basic' } } }),
    { ...bad, path: 'auth.refresh.token_endpoint_auth.client_secret' });
  await expectApiError(create({ ...base, refresh: { ...refresh, token_endpoint_auth: { type: 'magic' } } }),
    { ...bad, path: 'auth.refresh.token_endpoint_auth.type' });
});

// ---- update --------------------------------------------------------------------------------------------

test('update environment_variable: secret_value replaced silently, networking replaced whole', async () => {
  const name = uniqueName();
  const cred = await createEnv(vault.id, {
    secret_name: name,
    networking: { type: 'limited', allowed_hosts: ['api.example.com'] },
    injection_location: { header: true, body: false },
  });
  const rotated = await ctx.client.beta.vaults.credentials.update(cred.id, {
    vault_id: vault.id,
    auth: { type: 'environment_variable', secret_value: ctx.secret('rotated') },
  });
  assertCredential(rotated, { vault_id: vault.id });
  assert.deepEqual(rotated.auth, cred.auth);
  assert.equal(rotated.created_at, cred.created_at);

  const widened = await ctx.client.beta.vaults.credentials.update(cred.id, {
    vault_id: vault.id,
    auth: { type: 'environment_variable', networking: { type: 'unrestricted' } },
  });
  assertEnvAuth(widened.auth, {
    secret_name: name, networking: { type: 'unrestricted' }, injection_location: { header: true, body: false },
  });
  const narrowed = await ctx.client.beta.vaults.credentials.update(cred.id, {
    vault_id: vault.id,
    auth: { type: 'environment_variable', networking: { type: 'limited', allowed_hosts: ['b.example.com'] } },
  });
  assert.deepEqual(narrowed.auth.networking, { type: 'limited', allowed_hosts: ['b.example.com'] });

  // null networking and null secret_value keep what is stored.
  const kept = await ctx.client.beta.vaults.credentials.update(cred.id, {
    vault_id: vault.id,
    auth: { type: 'environment_variable', networking: null, secret_value: null },
  });
  assert.deepEqual(kept.auth, narrowed.auth);

  await expectApiError(ctx.client.beta.vaults.credentials.update(cred.id, {
    vault_id: vault.id,
    auth: { type: 'environment_variable', networking: { type: 'limited', allowed_hosts: ['a.example.com', '*'] } },
  }), { ...bad, path: 'auth.networking.allowed_hosts[1]' });
  assert.deepEqual((await ctx.client.beta.vaults.credentials.retrieve(cred.id, { vault_id: vault.id })).auth, narrowed.auth);
});

test('update environment_variable: injection_location patches per key and must keep one location', async () => {
  const cred = await createEnv(vault.id, { injection_location: { header: true, body: false } });
  const update = (injection_location) => ctx.client.beta.vaults.credentials.update(cred.id, {
    vault_id: vault.id, auth: { type: 'environment_variable', injection_location },
  });
  assertInjection((await update({ body: true })).auth.injection_location, { header: true, body: true });
  assertInjection((await update({ header: false })).auth.injection_location, { header: false, body: true });
  assertInjection((await update({})).auth.injection_location, { header: false, body: true });
  await expectApiError(update({ body: false }), { ...bad, pathPrefix: 'auth.injection_location' });
  await expectApiError(update({ header: false, body: false }), { ...bad, pathPrefix: 'auth.injection_location' });
  const stored = await ctx.client.beta.vaults.credentials.retrieve(cred.id, { vault_id: vault.id });
  assertInjection(stored.auth.injection_location, { header: false, body: true });
  assertInjection((await update({ header: true, body: false })).auth.injection_location, { header: true, body: false });
});

test('update: auth.type cannot change and immutable fields are refused', async () => {
  const env = await createEnv(vault.id);
  await expectApiError(ctx.client.beta.vaults.credentials.update(env.id, {
    vault_id: vault.id, auth: { type: 'static_bearer', token: ctx.secret('bearer') },
  }), { ...bad, path: 'auth.type' });
  await expectApiError(ctx.client.beta.vaults.credentials.update(env.id, {
    vault_id: vault.id, auth: { type: 'environment_variable', secret_name: 'RENAMED' },
  }), { ...bad, path: 'auth.secret_name' });
  await expectApiError(ctx.client.beta.vaults.credentials.update(env.id, {
    vault_id: vault.id, auth: { secret_value: ctx.secret('env') },
  }), { ...bad, path: 'auth.type' });

  const bearer = await ctx.client.beta.vaults.credentials.create(vault.id, {
    auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.immutable.example/mcp', token: ctx.secret('bearer') },
  });
  await expectApiError(ctx.client.beta.vaults.credentials.update(bearer.id, {
    vault_id: vault.id, auth: { type: 'mcp_oauth', access_token: ctx.secret('access') },
  }), { ...bad, path: 'auth.type' });
  await expectApiError(ctx.client.beta.vaults.credentials.update(bearer.id, {
    vault_id: vault.id, auth: { type: 'static_bearer', mcp_server_url: 'https://elsewhere.example/mcp' },
  }), { ...bad, path: 'auth.mcp_server_url' });

  assert.deepEqual(await ctx.client.beta.vaults.credentials.retrieve(env.id, { vault_id: vault.id }), env);
  assert.deepEqual(await ctx.client.beta.vaults.credentials.retrieve(bearer.id, { vault_id: vault.id }), bearer);
});

test('update static_bearer: token replaced, response unchanged', async () => {
  const cred = await ctx.client.beta.vaults.credentials.create(vault.id, {
    auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.rotate.example/mcp', token: ctx.secret('bearer') },
  });
  const updated = await ctx.client.beta.vaults.credentials.update(cred.id, {
    vault_id: vault.id, auth: { type: 'static_bearer', token: ctx.secret('bearer2') },
  });
  assert.deepEqual(updated.auth, { type: 'static_bearer', mcp_server_url: 'https://mcp.rotate.example/mcp' });
});

test('update mcp_oauth: expiry, scope clearing and token_endpoint_auth keeps its type', async () => {
  const cred = await ctx.client.beta.vaults.credentials.create(vault.id, {
    auth: {
      type: 'mcp_oauth',
      mcp_server_url: 'https://mcp.oauth-update.example/mcp',
      access_token: ctx.secret('access'),
      expires_at: '2098-06-01T12:00:00Z',
      refresh: {
        client_id: 'cid',
        refresh_token: ctx.secret('refresh'),
        token_endpoint: 'https://auth.oauth-update.example/token',
        token_endpoint_auth: { type: 'client_secret_basic', client_secret: ctx.secret('client-secret') },
        scope: 'read write',
      },
    },
  });
  const update = (auth) => ctx.client.beta.vaults.credentials.update(cred.id, {
    vault_id: vault.id, auth: { type: 'mcp_oauth', ...auth },
  });

  // A new access token without expires_at keeps the old expiry.
  const a = await update({ access_token: ctx.secret('access2') });
  assert.equal(a.auth.expires_at, '2098-06-01T12:00:00Z');
  const b = await update({ access_token: ctx.secret('access3'), expires_at: '2099-12-31T23:59:59Z' });
  assert.equal(b.auth.expires_at, '2099-12-31T23:59:59Z');
  await expectApiError(update({ expires_at: '2000-01-01T00:00:00Z' }), { ...bad, path: 'auth.expires_at' });

  const c = await update({
    refresh: { token_endpoint_auth: { type: 'client_secret_post', client_secret: ctx.secret('client-secret2') } },
  });
  assert.deepEqual(c.auth.refresh.token_endpoint_auth, { type: 'client_secret_basic' });
  assert.equal(c.auth.refresh.scope, 'read write');

  const d = await update({ refresh: { scope: '', refresh_token: ctx.secret('refresh2') } });
  assert.equal(d.auth.refresh.scope ?? null, null, 'scope "" clears the stored scope');
  assert.equal(d.auth.refresh.client_id, 'cid');
  assert.equal(d.auth.refresh.token_endpoint, 'https://auth.oauth-update.example/token');
  assert.equal(d.auth.mcp_server_url, 'https://mcp.oauth-update.example/mcp');
  assert.equal(d.auth.expires_at, '2099-12-31T23:59:59Z');
});

test('update: display_name and metadata patch', async () => {
  const cred = await createEnv(vault.id, {}, { display_name: 'first', metadata: { a: '1', b: '2' } });
  const updated = await ctx.client.beta.vaults.credentials.update(cred.id, {
    vault_id: vault.id, display_name: 'second', metadata: { a: null, c: '3' },
  });
  assertCredential(updated, { vault_id: vault.id, display_name: 'second', metadata: { b: '2', c: '3' } });
  assert.deepEqual(updated.auth, cred.auth);
  const kept = await ctx.client.beta.vaults.credentials.update(cred.id, {
    vault_id: vault.id, display_name: null, metadata: null,
  });
  assertCredential(kept, { vault_id: vault.id, display_name: 'second', metadata: { b: '2', c: '3' } });
  await expectApiError(ctx.client.beta.vaults.credentials.update(cred.id, {
    vault_id: vault.id, display_name: 'x'.repeat(256),
  }), { ...bad, path: 'display_name' });
  const sixteen = Object.fromEntries(range(14).map((i) => [`m${i}`, 'v']));
  const full = await ctx.client.beta.vaults.credentials.update(cred.id, { vault_id: vault.id, metadata: sixteen });
  assert.equal(Object.keys(full.metadata).length, 16);
  await expectApiError(ctx.client.beta.vaults.credentials.update(cred.id, {
    vault_id: vault.id, metadata: { one_more: 'v' },
  }), { ...bad, pathPrefix: 'metadata' });
});

// ---- list, archive, delete, uniqueness -----------------------------------------------------------------

test('list: newest first, archived hidden unless include_archived', async () => {
  const v = await newVault('list');
  const made = [];
  for (const i of range(4)) made.push(await createEnv(v.id, { secret_name: `LIST_${i}` }));
  const archived = await ctx.client.beta.vaults.credentials.archive(made[1].id, { vault_id: v.id });
  assertCredential(archived, { vault_id: v.id });
  assertTimestamp(archived.archived_at, 'archived_at');
  assert.deepEqual(archived.auth, made[1].auth);

  const active = await collect(ctx.client.beta.vaults.credentials.list(v.id));
  assertSameIds(active, [made[3], made[2], made[0]]);
  assertNewestFirst(active);
  for (const c of [made[3], made[2], made[0]]) assert.deepEqual(active.find((x) => x.id === c.id), c);
  const all = await collect(ctx.client.beta.vaults.credentials.list(v.id, { include_archived: true }));
  assertSameIds(all, made);
  assertNewestFirst(all);
  assert.deepEqual(all.find((x) => x.id === archived.id), archived);

  const page = await ctx.raw('GET', `/v1/vaults/${v.id}/credentials`);
  assert.equal(page.status, 200);
  assertKeys(page.json, ['data', 'next_page'], 'page');
  assert.equal(page.json.next_page, null);
});

test('credentials are scoped to their vault', async () => {
  const a = await newVault('scope a');
  const b = await newVault('scope b');
  const cred = await createEnv(a.id, { secret_name: 'SCOPED' });
  assert.deepEqual(await collect(ctx.client.beta.vaults.credentials.list(b.id)), []);
  await expectApiError(ctx.client.beta.vaults.credentials.retrieve(cred.id, { vault_id: b.id }), notFound);
  await expectApiError(ctx.client.beta.vaults.credentials.update(cred.id, { vault_id: b.id, display_name: 'x' }), notFound);
  await expectApiError(ctx.client.beta.vaults.credentials.archive(cred.id, { vault_id: b.id }), notFound);
  await expectApiError(ctx.client.beta.vaults.credentials.delete(cred.id, { vault_id: b.id }), notFound);
  // The same secret_name in another vault is fine.
  const other = await createEnv(b.id, { secret_name: 'SCOPED' });
  assert.equal(other.auth.secret_name, 'SCOPED');
});

test('duplicate secret_name among active credentials is 409, not retried; archiving frees the name', async () => {
  const v = await newVault('dup');
  const first = await createEnv(v.id, { secret_name: 'DUP_NAME' });
  const mark = ctx.rec.count;
  const err = await expectApiError(createEnv(v.id, { secret_name: 'DUP_NAME' }), conflict);
  assert.equal(ctx.rec.count - mark, 1, 'the SDK sent the request once');
  assert.equal(err.headers.get('x-should-retry'), 'false');

  // A different credential type does not clash with an environment variable name.
  await ctx.client.beta.vaults.credentials.create(v.id, {
    auth: { type: 'static_bearer', mcp_server_url: 'https://dup.example/mcp', token: ctx.secret('bearer') },
  });

  await ctx.client.beta.vaults.credentials.archive(first.id, { vault_id: v.id });
  const second = await createEnv(v.id, { secret_name: 'DUP_NAME' });
  assert.notEqual(second.id, first.id);
  assert.equal(second.auth.secret_name, 'DUP_NAME');
  const all = await collect(ctx.client.beta.vaults.credentials.list(v.id, { include_archived: true }));
  assert.equal(all.filter((c) => c.auth.secret_name === 'DUP_NAME').length, 2);
});

test('concurrent creates of one secret_name: exactly one wins, the others are 409', async () => {
  const v = await newVault('race');
  const results = await Promise.allSettled(range(8).map(() => createEnv(v.id, { secret_name: 'RACE' })));
  const won = results.filter((r) => r.status === 'fulfilled');
  const lost = results.filter((r) => r.status === 'rejected');
  assert.equal(won.length, 1, 'one create succeeded');
  for (const r of lost) {
    assert.ok(r.reason instanceof Anthropic.ConflictError, `${r.reason}`);
    assert.equal(r.reason.headers.get('x-should-retry'), 'false');
  }
  const listed = await collect(ctx.client.beta.vaults.credentials.list(v.id, { include_archived: true }));
  assert.deepEqual(listed, [won[0].value]);
});

test('duplicate mcp_server_url among active MCP credentials is 409; archiving frees it', async () => {
  const v = await newVault('dup mcp');
  const url = 'https://mcp.dup.example/mcp';
  const first = await ctx.client.beta.vaults.credentials.create(v.id, {
    auth: { type: 'static_bearer', mcp_server_url: url, token: ctx.secret('bearer') },
  });
  const mark = ctx.rec.count;
  const err = await expectApiError(ctx.client.beta.vaults.credentials.create(v.id, {
    auth: { type: 'mcp_oauth', mcp_server_url: url, access_token: ctx.secret('access') },
  }), conflict);
  assert.equal(ctx.rec.count - mark, 1);
  assert.equal(err.headers.get('x-should-retry'), 'false');
  await expectApiError(ctx.client.beta.vaults.credentials.create(v.id, {
    auth: { type: 'static_bearer', mcp_server_url: url, token: ctx.secret('bearer') },
  }), conflict);
  await ctx.client.beta.vaults.credentials.archive(first.id, { vault_id: v.id });
  const second = await ctx.client.beta.vaults.credentials.create(v.id, {
    auth: { type: 'mcp_oauth', mcp_server_url: url, access_token: ctx.secret('access') },
  });
  assert.equal(second.auth.mcp_server_url, url);
});

test('delete returns {id, type: "vault_credential_deleted"} and frees the name', async () => {
  const v = await newVault('delete');
  const cred = await createEnv(v.id, { secret_name: 'GONE' });
  const deleted = await ctx.client.beta.vaults.credentials.delete(cred.id, { vault_id: v.id });
  assert.deepEqual({ ...deleted }, { id: cred.id, type: 'vault_credential_deleted' });
  await expectApiError(ctx.client.beta.vaults.credentials.retrieve(cred.id, { vault_id: v.id }), notFound);
  await expectApiError(ctx.client.beta.vaults.credentials.delete(cred.id, { vault_id: v.id }), notFound);
  assert.deepEqual(await collect(ctx.client.beta.vaults.credentials.list(v.id, { include_archived: true })), []);
  await createEnv(v.id, { secret_name: 'GONE' });
});

test('unknown vault or credential ids are 404', async () => {
  const missingVault = 'vlt_011CZkZDLs7fYzm1hXNPeRjv';
  const missingCred = 'vcrd_011CZkZEMt8gZan2iYPQfSkw';
  await expectApiError(ctx.client.beta.vaults.credentials.list(missingVault), notFound);
  await expectApiError(createEnv(missingVault), notFound);
  await expectApiError(ctx.client.beta.vaults.credentials.retrieve(missingCred, { vault_id: vault.id }), notFound);
  await expectApiError(ctx.client.beta.vaults.credentials.update(missingCred, { vault_id: vault.id, display_name: 'x' }), notFound);
  await expectApiError(ctx.client.beta.vaults.credentials.archive(missingCred, { vault_id: vault.id }), notFound);
  await expectApiError(ctx.client.beta.vaults.credentials.delete(missingCred, { vault_id: vault.id }), notFound);
});

test('an archived vault refuses new credentials with 400', async () => {
  const v = await newVault('archived');
  const cred = await createEnv(v.id, { secret_name: 'BEFORE_ARCHIVE' });
  await ctx.client.beta.vaults.archive(v.id);
  await expectApiError(createEnv(v.id, { secret_name: 'AFTER_ARCHIVE' }), bad);
  // Its credentials are still readable.
  assert.deepEqual(await ctx.client.beta.vaults.credentials.retrieve(cred.id, { vault_id: v.id }), cred);
});

test('deleting a vault deletes its credentials', async () => {
  const v = await newVault('cascade');
  const cred = await createEnv(v.id, { secret_name: 'CASCADE' });
  await ctx.client.beta.vaults.delete(v.id);
  await expectApiError(ctx.client.beta.vaults.credentials.retrieve(cred.id, { vault_id: v.id }), notFound);
  await expectApiError(ctx.client.beta.vaults.credentials.list(v.id), notFound);
});

test('every response had a JSON content type, a JSON body and a unique request-id', () => {
  ctx.assertResponsesWellFormed();
});

test('no response and no daemon output contained a secret', () => {
  ctx.assertNoSecretsLeaked();
});
