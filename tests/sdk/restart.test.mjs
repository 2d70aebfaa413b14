// Durability across restarts: state written through the SDK survives a SIGKILL of the daemon (same ids and
// fields after restarting on the same data dir), sealed credentials still open (the daemon starts cleanly
// and serves them), and a different master key is refused at start with a non-zero exit and a message on
// stderr that names the master key, leaving the key file untouched.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { makeTempDir, randomApiKey, start, startExpectingFailure } from './lib/daemon.mjs';
import {
  Anthropic, Recorder, assertNoSecretsLeaked, assertResponsesWellFormed, collect, expectApiError, useDaemonSeries,
} from './lib/harness.mjs';

const secrets = new Set();
const rec = new Recorder();
const dirs = [];
const { daemons, test } = useDaemonSeries({ dirs, tailLines: 80 });

function secret(prefix) {
  const value = `${prefix}-${crypto.randomBytes(12).toString('hex')}`;
  secrets.add(value);
  return value;
}

async function boot(dataDir, { env = {} } = {}) {
  const daemon = await start({ dataDir, apiKey: randomApiKey(), env });
  daemons.push(daemon);
  const client = new Anthropic({ apiKey: daemon.apiKey, baseURL: daemon.baseURL, fetch: rec.fetch, timeout: 30_000 });
  return { daemon, client };
}

function fileState(file) {
  const stat = fs.statSync(file);
  return { bytes: fs.readFileSync(file).toString('hex'), mtimeMs: stat.mtimeMs, mode: stat.mode & 0o777 };
}

function otherHexKey() {
  return crypto.randomBytes(32).toString('hex');
}

// Everything one daemon life writes, and reads back for comparison after a restart.
async function writeState(client) {
  const vault = await client.beta.vaults.create({ display_name: 'Durable', metadata: { owner: 'ops', tier: 'gold' } });
  const emptyVault = await client.beta.vaults.create({ display_name: 'Empty' });
  const archivedVault = await client.beta.vaults.create({ display_name: 'Old' });
  await client.beta.vaults.archive(archivedVault.id);

  const env = await client.beta.vaults.credentials.create(vault.id, {
    display_name: 'Metrics',
    metadata: { k: 'v' },
    auth: {
      type: 'environment_variable', secret_name: 'METRICS_API_TOKEN', secret_value: secret('metrics'),
      networking: { type: 'limited', allowed_hosts: ['metrics.example.com', '*.metrics.example.net'] },
      injection_location: { header: true, body: false },
    },
  });
  // Rotated once, so the stored value is the second one.
  await client.beta.vaults.credentials.update(env.id, {
    vault_id: vault.id, auth: { type: 'environment_variable', secret_value: secret('metrics-rotated') },
  });
  await client.beta.vaults.credentials.create(vault.id, {
    auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.durable.example/mcp', token: secret('bearer') },
  });
  await client.beta.vaults.credentials.create(vault.id, {
    auth: {
      type: 'mcp_oauth', mcp_server_url: 'https://mcp.oauth.durable.example/mcp', access_token: secret('access'),
      expires_at: '2099-01-01T00:00:00Z',
      refresh: {
        client_id: 'durable-client', refresh_token: secret('refresh'),
        token_endpoint: 'https://auth.durable.example/token',
        token_endpoint_auth: { type: 'client_secret_post', client_secret: secret('client-secret') },
        scope: 'read',
      },
    },
  });
  const retired = await client.beta.vaults.credentials.create(vault.id, {
    auth: {
      type: 'environment_variable', secret_name: 'RETIRED', secret_value: secret('retired'),
      networking: { type: 'unrestricted' },
    },
  });
  await client.beta.vaults.credentials.archive(retired.id, { vault_id: vault.id });

  const agent = await client.beta.agents.create({
    name: 'Durable agent', model: { id: 'claude-opus-5-5', effort: 'medium' }, system: 'v1', metadata: { a: 'b' },
  });
  await client.beta.agents.update(agent.id, { system: 'v2', version: 1 });
  const archivedAgent = await client.beta.agents.create({ name: 'Archived agent', model: 'claude-haiku-5-5' });
  await client.beta.agents.archive(archivedAgent.id);

  await client.beta.environments.create({
    name: 'Durable env', description: 'kept',
    config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: ['api.example.com'] } },
  });
  return { vaultId: vault.id, agentId: agent.id };
}

async function readState(client, { vaultId, agentId }) {
  const state = {
    vaults: await collect(client.beta.vaults.list({ include_archived: true })),
    credentials: await collect(client.beta.vaults.credentials.list(vaultId, { include_archived: true })),
    agents: await collect(client.beta.agents.list({ include_archived: true })),
    agentVersions: await collect(client.beta.agents.versions.list(agentId)),
    agentV1: await client.beta.agents.retrieve(agentId, { version: 1 }),
    environments: await collect(client.beta.environments.list({ include_archived: true })),
  };
  state.retrieved = {
    vaults: await Promise.all(state.vaults.map((v) => client.beta.vaults.retrieve(v.id))),
    credentials: await Promise.all(state.credentials.map((c) => client.beta.vaults.credentials.retrieve(c.id, { vault_id: vaultId }))),
    agents: await Promise.all(state.agents.map((a) => client.beta.agents.retrieve(a.id))),
    environments: await Promise.all(state.environments.map((e) => client.beta.environments.retrieve(e.id))),
  };
  return state;
}

// ---- scenario 1: the key file ---------------------------------------------------------------------------

const fileKeyDir = makeTempDir('airlock-sdk-restart-');
dirs.push(fileKeyDir);
let ids;
let before;
let keyFileBefore;

test('first start creates master.key (0600) in a 0700 data dir and serves writes', async () => {
  const { daemon, client } = await boot(fileKeyDir);
  const keyFile = path.join(fileKeyDir, 'master.key');
  assert.ok(fs.existsSync(keyFile), 'master.key exists');
  assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600, 'master.key mode');
  assert.equal(fs.statSync(fileKeyDir).mode & 0o777, 0o700, 'data dir mode');
  ids = await writeState(client);
  before = await readState(client, ids);
  assert.equal(before.vaults.length, 3);
  assert.equal(before.credentials.length, 4);
  assert.equal(before.agents.length, 2);
  assert.equal(before.agentVersions.length, 2);
  assert.equal(before.environments.length, 1);

  const status = await daemon.kill('SIGKILL');
  assert.equal(status.signal, 'SIGKILL');
  keyFileBefore = fileState(keyFile);
});

test('after SIGKILL, a restart on the same data dir has every object with the same ids and fields', async () => {
  const { daemon, client } = await boot(fileKeyDir);
  const afterRestart = await readState(client, ids);
  assert.deepEqual(afterRestart, before);
  assert.deepEqual(fileState(path.join(fileKeyDir, 'master.key')), keyFileBefore, 'key file unchanged');

  // The restored state is live: uniqueness still holds, and new writes work.
  await expectApiError(client.beta.vaults.credentials.create(ids.vaultId, {
    auth: {
      type: 'environment_variable', secret_name: 'METRICS_API_TOKEN', secret_value: secret('dup'),
      networking: { type: 'unrestricted' },
    },
  }), { cls: Anthropic.ConflictError, status: 409, type: 'conflict_error' });
  const updated = await client.beta.agents.update(ids.agentId, { system: 'v3', version: 2 });
  assert.equal(updated.version, 3);
  const reused = await client.beta.vaults.credentials.create(ids.vaultId, {
    auth: {
      type: 'environment_variable', secret_name: 'RETIRED', secret_value: secret('retired-again'),
      networking: { type: 'unrestricted' },
    },
  });
  assert.equal(reused.auth.secret_name, 'RETIRED');
  before = await readState(client, ids);

  const status = await daemon.stop();
  assert.deepEqual(status, { code: 0, signal: null }, 'SIGTERM exits 0');
});

test('a different AIRLOCK_MASTER_KEY is refused: non-zero exit, stderr names the master key, key file unchanged', async () => {
  const keyFile = path.join(fileKeyDir, 'master.key');
  const keyBefore = fileState(keyFile);
  const result = await startExpectingFailure({ dataDir: fileKeyDir, env: { AIRLOCK_MASTER_KEY: otherHexKey() } });
  assert.equal(result.becameReady, false, `it must not become ready; output:\n${result.output}`);
  assert.equal(result.signal, null, `it must exit by itself; output:\n${result.output}`);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /master[ _-]?key/i, `stderr names the master key:\n${result.stderr}`);
  assert.deepEqual(fileState(keyFile), keyBefore, 'key file unchanged');
  for (const s of secrets) assert.ok(!result.output.includes(s), 'no secret in the refusal output');
});

test('after the refused start, the right key still opens everything', async () => {
  const { daemon, client } = await boot(fileKeyDir);
  assert.deepEqual(await readState(client, ids), before);
  const status = await daemon.stop();
  assert.deepEqual(status, { code: 0, signal: null });
});

// ---- scenario 2: the key from AIRLOCK_MASTER_KEY --------------------------------------------------------

const envKeyDir = makeTempDir('airlock-sdk-restart-env-');
dirs.push(envKeyDir);
const envKey = otherHexKey();
let envIds;
let envBefore;

test('with AIRLOCK_MASTER_KEY set, no key file is written, and a SIGKILL + restart keeps everything', async () => {
  const first = await boot(envKeyDir, { env: { AIRLOCK_MASTER_KEY: envKey } });
  assert.ok(!fs.existsSync(path.join(envKeyDir, 'master.key')), 'no master.key when the key comes from the environment');
  envIds = await writeState(first.client);
  envBefore = await readState(first.client, envIds);
  await first.daemon.kill('SIGKILL');

  const second = await boot(envKeyDir, { env: { AIRLOCK_MASTER_KEY: envKey } });
  assert.deepEqual(await readState(second.client, envIds), envBefore);
  assert.deepEqual(await second.daemon.stop(), { code: 0, signal: null });
});

test('the same data dir refuses another AIRLOCK_MASTER_KEY, and refuses a missing one', async () => {
  const wrong = await startExpectingFailure({ dataDir: envKeyDir, env: { AIRLOCK_MASTER_KEY: otherHexKey() } });
  assert.equal(wrong.becameReady, false, wrong.output);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /master[ _-]?key/i, wrong.stderr);

  // Without the variable the daemon would generate a key file: that key cannot open this database either.
  const missing = await startExpectingFailure({ dataDir: envKeyDir });
  assert.equal(missing.becameReady, false, missing.output);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /master[ _-]?key/i, missing.stderr);

  const again = await boot(envKeyDir, { env: { AIRLOCK_MASTER_KEY: envKey } });
  assert.deepEqual(await readState(again.client, envIds), envBefore);
  assert.deepEqual(await again.daemon.stop(), { code: 0, signal: null });
});

test('a malformed AIRLOCK_MASTER_KEY is refused with a message naming it', async () => {
  const dir = makeTempDir('airlock-sdk-restart-bad-');
  dirs.push(dir);
  const result = await startExpectingFailure({ dataDir: dir, env: { AIRLOCK_MASTER_KEY: 'not-a-key' } });
  assert.equal(result.becameReady, false, result.output);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /AIRLOCK_MASTER_KEY|master[ _-]?key/i, result.stderr);
});

test('every response had a JSON content type, a JSON body and a unique request-id', () => {
  assertResponsesWellFormed(rec);
});

test('no response and no daemon output contained a secret', () => {
  assertNoSecretsLeaked(rec, secrets, daemons);
});
