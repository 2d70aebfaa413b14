// The audit beyond SQLite (docs/operations.md, "The audit"): audit.jsonl appends every exchange, one JSON
// object per line, unidentified callers included and never a secret; audit.max_bytes deletes the oldest
// egress rows while the database is over it (here 1 byte: every row goes, and the log says once that
// nothing is left to delete).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { makeTempDir } from './lib/daemon.mjs';
import { useOrigin } from './lib/origin.mjs';
import { useDaemon } from './lib/harness.mjs';
import { curl } from './lib/curl.mjs';
import { waitUntil } from './lib/faults.mjs';

const { certificates, origin } = await useOrigin();
const dir = makeTempDir('airlock-audit-sink-');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const sink = path.join(dir, 'audit.jsonl');
const configFile = path.join(dir, 'airlock.yaml');
fs.writeFileSync(configFile, `audit:\n  jsonl: ${sink}\n  max_bytes: 1\nruntime:\n  default_harness: none\n`);
const ctx = useDaemon({
  args: ['--config', configFile, '--upstream-ca', certificates.ca, '--resolve', 'metrics.test:127.0.0.1',
         '--allow-private', '127.0.0.1/32'],
});

async function scrape() {
  const res = await fetch(`${ctx.daemon.baseURL}/metrics`, { headers: { 'x-api-key': ctx.apiKey } });
  const values = new Map();
  for (const line of (await res.text()).split('\n')) {
    const m = line.match(/^(airlock_audit_[a-z_]+) (\d+)$/);
    if (m) values.set(m[1], Number(m[2]));
  }
  return values;
}

ctx.test('every exchange is a line in audit.jsonl; the database keeps none of them past audit.max_bytes', async () => {
  const secret = ctx.secret('sk-sink');
  const vault = await ctx.client.beta.vaults.create({ display_name: 'sink' });
  const credential = await ctx.client.beta.vaults.credentials.create(vault.id, {
    auth: { type: 'environment_variable', secret_name: 'METRICS_API_TOKEN', secret_value: secret,
            networking: { type: 'limited', allowed_hosts: ['metrics.test'] } },
  });
  const environment = await ctx.client.beta.environments.create({
    name: 'sink', config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: ['metrics.test'] } },
  });
  const agent = await ctx.client.beta.agents.create({ name: 'sink', model: 'claude-opus-5-5' });
  const session = await ctx.client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, vault_ids: [vault.id] });
  const env = (await ctx.raw('GET', `/v1/sessions/${session.id}/sandbox_env`)).json.env;

  const allowed = await curl(env, ['-H', `Authorization: Bearer ${env.METRICS_API_TOKEN}`, `https://metrics.test:${origin.port}/v1/metrics?window=1h`]);
  assert.equal(allowed.status, 200, allowed.stderr);
  const refused = await curl(env, ['https://elsewhere.test/']);
  assert.match(refused.stderr, /403/);
  const stranger = await curl({ HTTPS_PROXY: `http://sesn_01nobody:wrong@${ctx.daemon.proxyAddress}` }, ['https://metrics.test/']);
  assert.match(stranger.stderr, /407/);

  await waitUntil(() => fs.existsSync(sink) && fs.readFileSync(sink, 'utf8').split('\n').length === 4, { what: 'three lines in audit.jsonl' });
  const text = fs.readFileSync(sink, 'utf8');
  assert.equal(fs.statSync(sink).mode & 0o777, 0o600);
  assert.ok(!text.includes(secret) && !text.includes(env.METRICS_API_TOKEN) && !text.includes('window=1h'));
  const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l));
  for (const l of lines) {
    assert.deepEqual(Object.keys(l), ['type', 'created_at', 'session_id', 'method', 'host', 'port', 'path', 'original_destination',
                                      'status', 'bytes_up', 'bytes_down', 'decision', 'reason', 'credentials']);
    assert.match(l.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
  }
  const byHost = (host, method) => lines.find((l) => l.host === host && l.method === method);
  const get = byHost('metrics.test', 'GET');
  assert.deepEqual({ ...get, created_at: undefined, bytes_up: undefined, bytes_down: undefined }, {
    type: 'egress', created_at: undefined, session_id: session.id, method: 'GET', host: 'metrics.test', port: origin.port,
    path: '/v1/metrics', original_destination: null, status: 200, bytes_up: undefined, bytes_down: undefined,
    decision: 'allowed', reason: null,
    credentials: [{ credential_id: credential.id, secret_name: 'METRICS_API_TOKEN', location: 'header' }],
  });
  assert.ok(get.bytes_up > 0 && get.bytes_down > 0);
  const denied = byHost('elsewhere.test', 'CONNECT');
  assert.equal(denied.session_id, session.id);
  assert.equal(denied.status, 403);
  assert.equal(denied.decision, 'denied');
  assert.equal(denied.reason, 'host_not_allowed');
  // The caller with a wrong token has no session: the database skips it, the sink keeps it.
  const unknown = lines.find((l) => l.session_id === null);
  assert.equal(unknown.status, 407);
  assert.equal(unknown.reason, 'proxy_auth_required');

  // Past audit.max_bytes (1 byte) the two rows of the session go, oldest first, and stay counted.
  await waitUntil(async () => {
    const m = await scrape();
    return m.get('airlock_audit_rows_written_total') === 2 && m.get('airlock_audit_rows_purged_total') === 2;
  }, { what: 'two rows written and purged' });
  const m = await scrape();
  assert.equal(m.get('airlock_audit_sink_lines_total'), 3);
  assert.equal(m.get('airlock_audit_sink_failures_total'), 0);
  assert.equal(m.get('airlock_audit_rows_dropped_total'), 0);
  assert.deepEqual((await ctx.raw('GET', `/v1/sessions/${session.id}/egress`)).json.data, []);
  await waitUntil(() => ctx.daemon.log().includes('no egress row is left to delete: raise audit.max_bytes'),
                  { what: 'the warning that nothing is left to delete' });
  const warnings = ctx.daemon.log().split('\n').filter((l) => l.includes('raise audit.max_bytes'));
  assert.equal(warnings.length, 1, 'said once, not every 250 ms');
});
