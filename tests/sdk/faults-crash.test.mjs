// SIGKILL in the middle of writes, then a restart on the same data dir, which must find the state whole:
//   credentials  several clients create credentials and rotate them (each rotation changes the secret and
//                metadata.gen together) while the daemon is killed: every acknowledged create and rotation
//                is there, no credential is torn (its secret, checked through the proxy, is the one of its
//                metadata.gen), and nothing unacknowledged appears but the writes in flight;
//   audit        requests go through the proxy while the daemon is killed: every audit row the API had
//                shown is there unchanged, and every row is whole;
//   runs         several clients run a deployment by hand while the daemon is killed: every acknowledged run
//                is there with its session, no run is doubled, every run carries exactly one of session_id
//                and error, and every session of the deployment belongs to exactly one run.
// The moment of each kill is random (the number of acknowledged writes before it); failures print it.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { makeOriginCertificates } from './lib/origin.mjs';
import { makeTempDir, randomApiKey, start } from './lib/daemon.mjs';
import { Anthropic, assertId, assertTimestamp, collect, useDaemonSeries } from './lib/harness.mjs';
import { faultOrigin, parseResponse, readUntil, response, tlsThroughProxy, waitUntil } from './lib/faults.mjs';

const kClients = 4;

const dataDir = makeTempDir('airlock-faults-crash-');
const certDir = makeTempDir('airlock-faults-origin-');
const certificates = makeOriginCertificates(certDir, ['metrics.test']);
const apiKey = randomApiKey();
const args = ['--upstream-ca', certificates.ca, '--resolve', 'metrics.test:127.0.0.1', '--allow-private', '127.0.0.1/32'];
const { daemons, test } = useDaemonSeries({ dirs: [dataDir, certDir], stopWith: 'SIGKILL', tailLines: 40 });
let daemon = null;
let client = null;

const origin = await faultOrigin(certificates, (request, conn) => {
  conn.write(response(200, 'ok'));
  conn.next();
});

async function boot() {
  daemon = await start({ dataDir, apiKey, args });
  daemons.push(daemon);
  client = sdk();
}

// A client of its own for each worker: no retries (a retry after the kill would be a write of its own).
function sdk() {
  return new Anthropic({ apiKey, baseURL: daemon.baseURL, maxRetries: 0, timeout: 20_000 });
}

// The kill comes after a random number of acknowledged writes in [low, high).
function killAfter(low, high) {
  return low + crypto.randomInt(high - low);
}

// Runs `kClients` workers, each calling `step(worker, n)` in a loop, until `acked()` reaches `threshold`;
// then SIGKILLs the daemon and waits for every worker to see its last call fail. Resolves when all are done.
async function hammerThenKill(step, acked, threshold) {
  let killed = false;
  const workers = Array.from({ length: kClients }, async (_, worker) => {
    for (let n = 0; !killed; n++) {
      try {
        await step(worker, n);
      } catch (err) {
        if (!killed) throw err;  // a failure before the kill is a failure of the test
        return;
      }
    }
  });
  await waitUntil(() => acked() >= threshold || killed, { timeoutMs: 30_000, what: `${threshold} acknowledged writes` });
  killed = true;
  const status = await daemon.kill('SIGKILL');
  assert.equal(status.signal, 'SIGKILL');
  await Promise.all(workers);
}

// ---- credentials ----------------------------------------------------------------------------------------

const kRotations = 3;  // per credential, after its create
const secretOf = (worker, n, gen) => `sk-crash-${worker}-${n}-g${gen}-${crypto.createHash('sha256').update(`${dataDir}/${worker}/${n}/${gen}`).digest('hex').slice(0, 24)}`;
const nameOf = (worker, n) => `TOKEN_${worker}_${n}`;

test('credentials: creates and rotations acknowledged before a SIGKILL are all there, none torn', async (t) => {
  await boot();
  const vaults = [];
  for (let worker = 0; worker < kClients; worker++) vaults.push(await client.beta.vaults.create({ display_name: `crash ${worker}` }));
  // Per worker: {n → {id, acked gen, inflight gen}}, and the create in flight.
  const state = Array.from({ length: kClients }, () => ({ creds: new Map(), creating: null }));
  let acks = 0;
  const clients = vaults.map(() => sdk());
  const step = async (worker, n) => {
    const mine = state[worker];
    const vault = vaults[worker].id;
    mine.creating = n;
    const created = await clients[worker].beta.vaults.credentials.create(vault, {
      metadata: { gen: '0' },
      auth: { type: 'environment_variable', secret_name: nameOf(worker, n), secret_value: secretOf(worker, n, 0),
              networking: { type: 'limited', allowed_hosts: ['metrics.test'] } },
    });
    mine.creating = null;
    const cred = { id: created.id, acked: 0, inflight: null };
    mine.creds.set(n, cred);
    acks += 1;
    for (let gen = 1; gen <= kRotations; gen++) {
      cred.inflight = gen;
      await clients[worker].beta.vaults.credentials.update(created.id, {
        vault_id: vault, metadata: { gen: String(gen) },
        auth: { type: 'environment_variable', secret_value: secretOf(worker, n, gen) },
      });
      cred.acked = gen;
      cred.inflight = null;
      acks += 1;
    }
  };
  const threshold = killAfter(20, 80);
  await hammerThenKill(step, () => acks, threshold);
  const where = `(killed after ${threshold} acknowledged writes)`;

  await boot();
  const expected = [];  // {worker, n, id, gen} as found after the restart
  let unacknowledged = 0;  // writes in flight at the kill that were found committed
  for (let worker = 0; worker < kClients; worker++) {
    const listed = await collect(client.beta.vaults.credentials.list(vaults[worker].id, { include_archived: true }));
    const mine = state[worker];
    const known = new Map([...mine.creds].map(([n, cred]) => [cred.id, { n, ...cred }]));
    for (const cred of listed) {
      const name = cred.auth.secret_name;
      const n = Number(name.split('_')[2]);
      const entry = known.get(cred.id);
      if (!entry) {
        assert.equal(n, mine.creating, `${where} ${name} (${cred.id}) was never acknowledged nor in flight`);
        assert.equal(cred.metadata.gen, '0', `${where} ${name}: an unacknowledged create with a later generation`);
        unacknowledged += 1;
      } else {
        const allowed = [String(entry.acked), ...(entry.inflight === null ? [] : [String(entry.inflight)])];
        assert.ok(allowed.includes(cred.metadata.gen),
          `${where} ${name}: metadata.gen ${cred.metadata.gen}, acknowledged ${entry.acked}, in flight ${entry.inflight}`);
        if (cred.metadata.gen !== String(entry.acked)) unacknowledged += 1;
      }
      assert.equal(name, nameOf(worker, n));
      assert.equal(cred.type, 'vault_credential');
      assert.equal(cred.vault_id, vaults[worker].id);
      assert.equal(cred.archived_at, null);
      assert.equal(cred.auth.type, 'environment_variable');
      assert.deepEqual(cred.auth.networking, { type: 'limited', allowed_hosts: ['metrics.test'] });
      assertTimestamp(cred.created_at);
      expected.push({ worker, n, id: cred.id, gen: Number(cred.metadata.gen) });
    }
    for (const [id, entry] of known) {
      assert.ok(listed.some((cred) => cred.id === id), `${where} the acknowledged credential ${nameOf(worker, entry.n)} (${id}) is gone`);
    }
  }
  assert.ok(expected.length >= 5, `${where} only ${expected.length} credentials`);
  t.diagnostic(`${where} ${expected.length} credentials; ${unacknowledged} write(s) in flight at the kill were committed`);

  // Through the proxy, each placeholder becomes the secret of the generation its metadata says.
  const environment = await client.beta.environments.create({ name: 'crash' });
  const agent = await client.beta.agents.create({ name: 'crash', model: 'claude-opus-5-5' });
  const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, vault_ids: vaults.map((v) => v.id) });
  const res = await fetch(`${daemon.baseURL}/v1/sessions/${session.id}/sandbox_env`, { headers: { 'x-api-key': apiKey } });
  const { env } = await res.json();
  const { secure } = await tlsThroughProxy(env, 'metrics.test', origin.port, { ca: fs.readFileSync(path.join(dataDir, 'ca-bundle.pem')) });
  const headers = expected.map(({ worker, n }, i) => `X-Secret-${i}: ${env[nameOf(worker, n)]}\r\n`).join('');
  secure.write(`GET /secrets HTTP/1.1\r\nHost: metrics.test:${origin.port}\r\n${headers}\r\n`);
  const read = await readUntil(secure, (buffer) => parseResponse(buffer).complete);
  secure.destroy();
  assert.equal(parseResponse(read.data).status, 200, read.data.toString('latin1'));
  const seen = origin.requests.find((r) => r.path === '/secrets');
  expected.forEach(({ worker, n, gen }, i) => {
    assert.equal(seen.headers[`x-secret-${i}`], secretOf(worker, n, gen), `${where} ${nameOf(worker, n)}: the secret of generation ${gen}`);
  });
});

// ---- audit -----------------------------------------------------------------------------------------------

test('audit: rows the API showed before a SIGKILL during proxy traffic are all there, and every row is whole', async (t) => {
  const vault = await client.beta.vaults.create({ display_name: 'audit' });
  const credential = await client.beta.vaults.credentials.create(vault.id, {
    auth: { type: 'environment_variable', secret_name: 'METRICS_API_TOKEN', secret_value: secretOf('audit', 0, 0),
            networking: { type: 'limited', allowed_hosts: ['metrics.test'] } },
  });
  const environment = await client.beta.environments.create({ name: 'audit' });
  const agent = await client.beta.agents.create({ name: 'audit', model: 'claude-opus-5-5' });
  const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, vault_ids: [vault.id] });
  const res = await fetch(`${daemon.baseURL}/v1/sessions/${session.id}/sandbox_env`, { headers: { 'x-api-key': apiKey } });
  const { env } = await res.json();
  const ca = fs.readFileSync(path.join(dataDir, 'ca-bundle.pem'));

  const shown = new Map();  // id → row, as the API listed it before the kill
  const listEgress = async (c) => {
    const rows = [];
    let page;
    for (;;) {
      const query = page ? `&page=${encodeURIComponent(page)}` : '';
      const r = await fetch(`${daemon.baseURL}/v1/sessions/${session.id}/egress?limit=1000${query}`, { headers: { 'x-api-key': apiKey } });
      assert.equal(r.status, 200);
      const body = await r.json();
      rows.push(...body.data);
      if (!body.next_page) return rows;
      page = body.next_page;
    }
  };
  const tunnels = [];
  let done = 0;
  const step = async (worker, n) => {
    if (!tunnels[worker]) tunnels[worker] = (await tlsThroughProxy(env, 'metrics.test', origin.port, { ca })).secure;
    const secure = tunnels[worker];
    secure.write(`GET /audit/${worker}/${n} HTTP/1.1\r\nHost: metrics.test:${origin.port}\r\nAuthorization: Bearer ${env.METRICS_API_TOKEN}\r\n\r\n`);
    const read = await readUntil(secure, (buffer) => parseResponse(buffer).complete);
    if (read.ended !== 'done') throw new Error(`the request ended: ${read.ended}`);
    if (worker === 0 && n % 5 === 0) {
      for (const row of await listEgress()) shown.set(row.id, row);
    }
    done += 1;
  };
  const threshold = killAfter(60, 200);
  await hammerThenKill(step, () => (shown.size > 0 ? done : 0), threshold);
  for (const tunnel of tunnels) tunnel?.destroy();
  const where = `(killed after ${threshold} requests, ${shown.size} rows shown)`;
  assert.ok(shown.size > 0, where);

  await boot();
  const rows = await listEgress();
  const byId = new Map(rows.map((row) => [row.id, row]));
  t.diagnostic(`${where} ${rows.length} rows after the restart, for ${done} requests answered`);
  assert.equal(byId.size, rows.length, `${where} an audit row listed twice`);
  for (const [id, row] of shown) assert.deepEqual(byId.get(id), row, `${where} the row ${id} the API had shown`);
  const paths = new Set();
  for (const row of rows) {
    assert.deepEqual(Object.keys(row).sort(), ['bytes_down', 'bytes_up', 'created_at', 'credentials', 'decision', 'host', 'id',
      'method', 'original_destination', 'path', 'port', 'reason', 'status', 'type'], JSON.stringify(row));
    assert.equal(row.type, 'egress_event');
    assertTimestamp(row.created_at);
    assert.match(row.path, /^\/audit\/\d\/\d+$/, JSON.stringify(row));
    assert.ok(!paths.has(row.path), `${where} two rows for ${row.path}`);
    paths.add(row.path);
    assert.deepEqual([row.method, row.host, row.port, row.status, row.decision, row.reason, row.original_destination],
                     ['GET', 'metrics.test', origin.port, 200, 'allowed', null, null], JSON.stringify(row));
    assert.ok(row.bytes_up > 0 && row.bytes_down > 0, JSON.stringify(row));
    assert.deepEqual(row.credentials, [{ credential_id: credential.id, secret_name: 'METRICS_API_TOKEN', location: 'header' }],
                     JSON.stringify(row));
  }
});

// ---- deployment runs -------------------------------------------------------------------------------------

test('runs: manual runs acknowledged before a SIGKILL are there with their sessions, none doubled or half done', async (t) => {
  const agent = await client.beta.agents.create({ name: 'crash runs', model: 'claude-opus-5-5' });
  const environment = await client.beta.environments.create({ name: 'crash runs' });
  const deployment = await client.beta.deployments.create({
    agent: agent.id, environment_id: environment.id, name: 'crash runs', schedule: null,
    initial_events: [{ type: 'user.message', content: [{ type: 'text', text: 'go' }] }],
  });
  const acked = new Map();  // run id → run
  const clients = Array.from({ length: kClients }, () => sdk());
  let inflight = 0;
  const step = async (worker) => {
    inflight += 1;
    const run = await clients[worker].beta.deployments.run(deployment.id);
    inflight -= 1;
    acked.set(run.id, run);
  };
  const threshold = killAfter(10, 40);
  await hammerThenKill(step, () => acked.size, threshold);
  const where = `(killed after ${threshold} acknowledged runs, ${inflight} in flight)`;

  await boot();
  const runs = await collect(client.beta.deploymentRuns.list({ deployment_id: deployment.id }));
  const sessions = await collect(client.beta.sessions.list({ deployment_id: deployment.id }));
  assert.equal(new Set(runs.map((r) => r.id)).size, runs.length, `${where} a run listed twice`);
  assert.ok(runs.length >= acked.size && runs.length <= acked.size + inflight,
    `${where} ${runs.length} runs: ${acked.size} acknowledged, ${inflight} in flight`);
  for (const [id, run] of acked) {
    const found = runs.find((r) => r.id === id);
    assert.ok(found, `${where} the acknowledged run ${id} is gone`);
    assert.equal(found.session_id, run.session_id, `${where} run ${id}`);
    assert.equal(found.error, null, `${where} run ${id}`);
  }
  t.diagnostic(`${where} ${runs.length} runs after the restart, ${runs.filter((r) => r.error).length} with an error`);
  const runOfSession = new Map();
  for (const run of runs) {
    assert.deepEqual(run.trigger_context, { type: 'manual' });
    assert.ok((run.session_id === null) !== (run.error === null), `${where} exactly one of session_id and error: ${JSON.stringify(run)}`);
    if (run.error) {
      assert.ok(!acked.has(run.id));
      assert.equal(run.error.type, 'unknown_error', JSON.stringify(run));
      continue;
    }
    assertId(run.session_id, 'sesn');
    assert.ok(!runOfSession.has(run.session_id), `${where} runs ${runOfSession.get(run.session_id)} and ${run.id} share a session`);
    runOfSession.set(run.session_id, run.id);
    const session = await client.beta.sessions.retrieve(run.session_id);
    assert.equal(session.deployment_id, deployment.id);
    const events = await collect(client.beta.sessions.events.list(run.session_id));
    assert.deepEqual(events.map((e) => e.type), ['user.message'], `${where} the session of run ${run.id}`);
  }
  for (const session of sessions) {
    assert.ok(runOfSession.has(session.id), `${where} session ${session.id} of the deployment belongs to no run`);
  }
  assert.equal(sessions.length, runOfSession.size);
  assert.deepEqual(await daemon.stop(), { code: 0, signal: null });
});
