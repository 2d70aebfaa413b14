// End to end through the egress proxy: the official SDK sets up a vault, a credential, an environment, an
// agent and a session; real curl, configured only from the session's sandbox_env, calls a real HTTPS
// origin (Node's https, with its own test CA that the daemon trusts through --upstream-ca). The origin
// records what it received: it must see the real secret where the client only ever held the placeholder,
// and what the origin echoes back must reach the client with the secret redacted.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';

import { makeTempDir, start } from './lib/daemon.mjs';
import { useOrigin } from './lib/origin.mjs';
import { Anthropic, useDaemon } from './lib/harness.mjs';
import { curl } from './lib/curl.mjs';

const { certificates, origin } = await useOrigin();

// The origin is "metrics.test" to the daemon (--resolve), so the sandbox's NO_PROXY (loopback) does not apply.
// It listens on loopback, which the proxy refuses unless allowed (N1): this test opens 127.0.0.1 only.
const daemonArgs = ['--upstream-ca', certificates.ca, '--resolve', 'metrics.test:127.0.0.1', '--allow-private', '127.0.0.1/32'];
const ctx = useDaemon({ args: daemonArgs });
const originUrl = `https://metrics.test:${origin.port}`;

async function setUp() {
  const secret = ctx.secret('sk-live');
  const otherSecret = ctx.secret('sk-other');
  const vault = await ctx.client.beta.vaults.create({ display_name: 'egress' });
  await ctx.client.beta.vaults.credentials.create(vault.id, {
    auth: { type: 'environment_variable', secret_name: 'METRICS_API_TOKEN', secret_value: secret,
            networking: { type: 'limited', allowed_hosts: ['metrics.test'] } },
  });
  await ctx.client.beta.vaults.credentials.create(vault.id, {
    auth: { type: 'environment_variable', secret_name: 'OTHER_TOKEN', secret_value: otherSecret,
            networking: { type: 'limited', allowed_hosts: ['api.other.example'] } },
  });
  const environment = await ctx.client.beta.environments.create({ name: 'egress' });
  const agent = await ctx.client.beta.agents.create({ name: 'egress', model: 'claude-opus-5-5' });
  const session = await ctx.client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, vault_ids: [vault.id] });
  const { status, json: sandbox } = await ctx.raw('GET', `/v1/sessions/${session.id}/sandbox_env`);
  assert.equal(status, 200, JSON.stringify(sandbox));
  return { secret, otherSecret, vault, session, env: sandbox.env };
}

let setup;

ctx.test('sandbox_env hands out placeholders and a proxy URL, never a secret', async () => {
  setup = await setUp();
  const { env, secret, session } = setup;
  assert.match(env.METRICS_API_TOKEN, /^airlock_ph_[A-Za-z0-9]{40}$/);
  assert.notEqual(env.METRICS_API_TOKEN, secret);
  assert.match(env.HTTPS_PROXY, new RegExp(`^http://${session.id}:[0-9a-f]{64}@127\\.0\\.0\\.1:\\d+$`));
  assert.equal(env.HTTPS_PROXY.split('@')[1], ctx.daemon.proxyAddress);
  assert.equal(env.https_proxy, env.HTTPS_PROXY);
  assert.equal(env.CURL_CA_BUNDLE, path.join(ctx.tmp, 'ca-bundle.pem'));
});

ctx.test('curl through the proxy: the origin sees the secret, the client sees only the placeholder', async () => {
  const { env, secret } = setup;
  const before = origin.received.length;
  const result = await curl(env, ['-H', `Authorization: Bearer ${env.METRICS_API_TOKEN}`, `${originUrl}/v1/metrics?window=1h`]);
  assert.equal(result.status, 200, result.stderr + result.body);
  assert.equal(origin.received.length, before + 1);
  const seen = origin.received.at(-1);
  assert.equal(seen.headers.authorization, `Bearer ${secret}`);
  assert.equal(seen.url, '/v1/metrics?window=1h');
  // The origin echoed the real value back; the proxy redacted it on the way to the sandbox.
  assert.equal(result.body.includes(secret), false);
  assert.equal(JSON.parse(result.body).headers.authorization, `Bearer ${env.METRICS_API_TOKEN}`);
});

ctx.test("through the proxy the sandbox reaches neither Airlock's own listeners nor loopback it was not given (N1)", async () => {
  const { env } = setup;
  const { NO_PROXY, no_proxy, ...proxied } = env;  // send loopback URLs through the proxy too
  assert.ok(NO_PROXY !== undefined && no_proxy !== undefined);
  const api = ctx.daemon.ready.api;
  const result = await curl(proxied, [`http://${api}/healthz`]);
  assert.equal(result.status, 403, result.stderr + result.body);
  assert.equal(result.body, `address_not_allowed: 127.0.0.1 is Airlock's own API listener (${api}); Airlock never proxies to itself\n`);
  const self = await curl(proxied, [`http://${ctx.daemon.proxyAddress}/`]);
  assert.equal(self.status, 403, self.stderr + self.body);
  assert.equal(self.body, `address_not_allowed: 127.0.0.1 is Airlock's own proxy listener (${ctx.daemon.proxyAddress}); Airlock never proxies to itself\n`);
  const other = await curl(proxied, [`http://2130706434:${origin.port}/`]);  // 127.0.0.2, spelled as a number
  assert.equal(other.status, 403, other.stderr + other.body);
  assert.equal(other.body, 'address_not_allowed: 127.0.0.2 is loopback (127.0.0.0/8); allow it with --allow-private 127.0.0.2/32, ' +
                           'or name the host in a policy rule with internal: true\n');
});

ctx.test('curl -u user:$TOKEN gets Basic auth with the real secret upstream', async () => {
  const { env, secret } = setup;
  const result = await curl(env, ['-u', `reader:${env.METRICS_API_TOKEN}`, `${originUrl}/basic`]);
  assert.equal(result.status, 200, result.stderr + result.body);
  assert.equal(origin.received.at(-1).headers.authorization, `Basic ${Buffer.from(`reader:${secret}`).toString('base64')}`);
});

ctx.test('a POST body carrying the placeholder gets the secret, with Content-Length fixed', async () => {
  const { env, secret } = setup;
  const body = JSON.stringify({ token: env.METRICS_API_TOKEN, n: 1 });
  const result = await curl(env, ['-X', 'POST', '-H', 'Content-Type: application/json', '--data-binary', body, `${originUrl}/login`]);
  assert.equal(result.status, 200, result.stderr + result.body);
  const seen = origin.received.at(-1);
  assert.equal(seen.body, JSON.stringify({ token: secret, n: 1 }));
  assert.equal(Number(seen.headers['content-length']), Buffer.byteLength(seen.body));
});

// A Node client: http.request CONNECT through HTTPS_PROXY (user:token from the URL), then https over the
// tunnel, trusting only the bundle from sandbox_env — what proxy agents in Node libraries do.
async function nodeRequest(sandboxEnv, url, headers) {
  const proxy = new URL(sandboxEnv.HTTPS_PROXY);
  const target = new URL(url);
  const auth = Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64');
  const socket = await new Promise((resolve, reject) => {
    const connect = http.request({ host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: `${target.hostname}:${target.port}`,
                                   headers: { 'proxy-authorization': `Basic ${auth}` } });
    connect.on('connect', (res, tunnel) => (res.statusCode === 200 ? resolve(tunnel) : reject(new Error(`CONNECT ${res.statusCode}`))));
    connect.on('error', reject);
    connect.end();
  });
  return new Promise((resolve, reject) => {
    const req = https.request({ host: target.hostname, port: target.port, path: target.pathname + target.search, headers,
                                createConnection: () => tls.connect({ socket, servername: target.hostname,
                                                                      ca: fs.readFileSync(sandboxEnv.NODE_EXTRA_CA_CERTS) }) }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

ctx.test('a Node https client through the proxy gets the same substitution', async () => {
  const { env, secret } = setup;
  const result = await nodeRequest(env, `${originUrl}/node`, { 'x-api-key': env.METRICS_API_TOKEN });
  assert.equal(result.status, 200, result.body);
  assert.equal(origin.received.at(-1).headers['x-api-key'], secret);
  assert.equal(result.body.includes(secret), false);
});

ctx.test('a placeholder bound for a host its credential does not allow is refused with 403', async () => {
  const { env, otherSecret } = setup;
  const before = origin.received.length;
  const result = await curl(env, ['-H', `X-Api-Key: ${env.OTHER_TOKEN}`, `${originUrl}/exfiltrate`]);
  assert.equal(result.status, 403);
  assert.match(result.body, /OTHER_TOKEN/);
  assert.match(result.body, /metrics\.test/);
  assert.equal(result.body.includes(otherSecret), false);
  assert.equal(origin.received.length, before, 'the origin must not see the request');
});

ctx.test('without proxy credentials the proxy answers 407', async () => {
  const { env } = setup;
  const anonymous = { ...env, HTTPS_PROXY: `http://${ctx.daemon.proxyAddress}`, https_proxy: `http://${ctx.daemon.proxyAddress}` };
  const result = await curl(anonymous, [`${originUrl}/x`]);
  assert.notEqual(result.code, 0);  // curl reports the failed CONNECT
  assert.match(result.stderr, /407/);
});

ctx.test('the egress audit lists each request with credential names, never a value', async () => {
  const { session, secret } = setup;
  await new Promise((resolve) => setTimeout(resolve, 600));  // the audit writer flushes every 250 ms
  const { json: page } = await ctx.raw('GET', `/v1/sessions/${session.id}/egress?limit=100`);
  const text = JSON.stringify(page);
  assert.equal(text.includes(secret), false);
  const allowed = page.data.filter((row) => row.decision === 'allowed');
  assert.ok(allowed.length >= 3, text);
  const first = allowed.find((row) => row.path === '/v1/metrics');
  assert.ok(first, text);
  assert.equal(first.host, 'metrics.test');
  assert.equal(first.port, origin.port);
  assert.equal(first.method, 'GET');
  assert.equal(first.status, 200);
  assert.deepEqual(first.credentials.map((c) => [c.secret_name, c.location]), [['METRICS_API_TOKEN', 'header']]);
  // The refusals of the address checks' test are denied too; this one is the placeholder's.
  assert.deepEqual(page.data.filter((row) => row.decision === 'denied').map((row) => row.reason).sort(),
                   ['address_not_allowed', 'address_not_allowed', 'address_not_allowed', 'placeholder_violation']);
  const denied = page.data.find((row) => row.reason === 'placeholder_violation');
  assert.equal(denied.decision, 'denied');
  assert.equal(denied.status, 403);
});

ctx.test('archiving the session revokes its proxy token at once', async () => {
  const { env, session } = setup;
  await ctx.client.beta.sessions.archive(session.id);
  const result = await curl(env, [`${originUrl}/after-archive`]);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /407/);
  ctx.assertNoSecretsLeaked();
});

// Secrets still unseal after a SIGKILL: a fresh daemon on the same data dir substitutes the same secret.
ctx.test('after SIGKILL and restart, the proxy still substitutes the sealed secret', async () => {
  const dataDir = makeTempDir();
  let daemon = await start({ dataDir, args: daemonArgs });
  const client = new Anthropic({ apiKey: daemon.apiKey, baseURL: daemon.baseURL });
  const secret = ctx.secret('sk-restart');
  const vault = await client.beta.vaults.create({ display_name: 'restart' });
  await client.beta.vaults.credentials.create(vault.id, {
    auth: { type: 'environment_variable', secret_name: 'RESTART_TOKEN', secret_value: secret,
            networking: { type: 'limited', allowed_hosts: ['metrics.test'] } },
  });
  const environment = await client.beta.environments.create({ name: 'restart' });
  const agent = await client.beta.agents.create({ name: 'restart', model: 'claude-opus-5-5' });
  const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, vault_ids: [vault.id] });
  await daemon.kill('SIGKILL');

  daemon = await start({ dataDir, apiKey: daemon.apiKey, args: daemonArgs });
  try {
    const response = await fetch(`${daemon.baseURL}/v1/sessions/${session.id}/sandbox_env`, { headers: { 'x-api-key': daemon.apiKey } });
    const { env } = await response.json();
    const result = await curl(env, ['-H', `Authorization: Bearer ${env.RESTART_TOKEN}`, `${originUrl}/restart`]);
    assert.equal(result.status, 200, result.stderr + result.body);
    assert.equal(origin.received.at(-1).headers.authorization, `Bearer ${secret}`);
  } finally {
    assert.deepEqual(await daemon.stop(), { code: 0, signal: null });
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

// Network policy files (docs/policy.md): an environment picks a policy by metadata; SIGHUP reloads the file,
// and a file that does not load leaves the policies in force as they were.
ctx.test('a policy named by the environment decides each request; SIGHUP reloads the file, a broken one changes nothing', async () => {
  const dataDir = makeTempDir();
  const policyFile = path.join(dataDir, 'policies.yaml');
  const readOnly = 'policies:\n  read-only:\n    default: deny\n    rules:\n      - allow: metrics.test\n        methods: [GET]\n';
  fs.writeFileSync(policyFile, readOnly);
  const daemon = await start({ dataDir, args: [...daemonArgs, '--policy', policyFile] });
  const waitForLog = async (pattern) => {
    for (let i = 0; i < 200 && !pattern.test(daemon.log()); i++) await new Promise((r) => setTimeout(r, 25));
    assert.match(daemon.log(), pattern);
  };
  try {
    const client = new Anthropic({ apiKey: daemon.apiKey, baseURL: daemon.baseURL });
    const sandboxFor = async (policy) => {
      const environment = await client.beta.environments.create({ name: `policy-${policy}`, metadata: { 'airlock.policy': policy } });
      const agent = await client.beta.agents.create({ name: 'policy', model: 'claude-opus-5-5' });
      const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
      const response = await fetch(`${daemon.baseURL}/v1/sessions/${session.id}/sandbox_env`, { headers: { 'x-api-key': daemon.apiKey } });
      assert.equal(response.status, 200);
      return { env: (await response.json()).env, session };
    };
    const readOnlySandbox = await sandboxFor('read-only');
    const get = await curl(readOnlySandbox.env, [`${originUrl}/policy-get`]);
    assert.equal(get.status, 200, get.stderr + get.body);
    const before = origin.received.length;
    const post = await curl(readOnlySandbox.env, ['-X', 'POST', '--data-binary', 'x', `${originUrl}/policy-post`]);
    assert.equal(post.status, 403, post.stderr + post.body);
    assert.equal(post.body, `policy_denied: the network policy read-only denies POST /policy-post on metrics.test:${origin.port} ` +
                            `(no rule matches and its default is deny); change the policy file (proxy.policy_file) and reload to allow it\n`);
    assert.equal(origin.received.length, before);

    const missing = await sandboxFor('uploads');
    const refused = await curl(missing.env, [`${originUrl}/policy-missing`]);
    assert.notEqual(refused.code, 0);  // refused at CONNECT: curl reports the proxy's 403
    assert.match(refused.stderr, /403/);

    // A broken file: the log says why, and the policies in force stay.
    fs.writeFileSync(policyFile, `${readOnly}  uploads:\n    default: maybe\n`);
    process.kill(daemon.pid, 'SIGHUP');
    await waitForLog(/network policies not reloaded, the previous ones stay in force: .*policies\.yaml:\d+: /);
    assert.equal((await curl(readOnlySandbox.env, [`${originUrl}/policy-get`])).status, 200);

    // A good file: the session whose policy was missing now reaches the host.
    fs.writeFileSync(policyFile, `${readOnly}  uploads:\n    default: allow\n`);
    process.kill(daemon.pid, 'SIGHUP');
    await waitForLog(/network policies reloaded from .*: read-only,uploads/);
    const allowed = await curl(missing.env, [`${originUrl}/policy-missing`]);
    assert.equal(allowed.status, 200, allowed.stderr + allowed.body);

    // The same through the API: what is in force, and a reload that fails (400, nothing changes) or works.
    const api = async (method, route) => {
      const response = await fetch(`${daemon.baseURL}${route}`, { method, headers: { 'x-api-key': daemon.apiKey } });
      return { status: response.status, json: await response.json() };
    };
    const shown = await api('GET', '/v1/airlock/policies');
    assert.equal(shown.status, 200);
    assert.equal(shown.json.type, 'network_policies');
    assert.equal(shown.json.source, policyFile);
    assert.deepEqual(shown.json.policies.map((p) => [p.name, p.default]), [['read-only', 'deny'], ['uploads', 'allow']]);
    assert.deepEqual(shown.json.policies[0].rules, [{ action: 'allow', hosts: ['metrics.test'], cidrs: [], ports: [], methods: ['GET'],
                                                      paths: [], max_request_body_bytes: null, internal: false,
                                                      where: `${policyFile}:5` }]);
    assert.deepEqual(shown.json.allow_private, [{ cidr: '127.0.0.1/32', source: '--allow-private' }]);
    fs.writeFileSync(policyFile, 'policies:\n  x:\n    default: nope\n');
    const failed = await api('POST', '/v1/airlock/policies/reload');
    assert.equal(failed.status, 400, JSON.stringify(failed.json));
    assert.match(failed.json.error.message, /^the policy file was not reloaded, the policies in force stay: .*policies\.yaml:\d+: /);
    assert.equal((await curl(missing.env, [`${originUrl}/policy-missing`])).status, 200);
    fs.writeFileSync(policyFile, readOnly);
    const reloaded = await api('POST', '/v1/airlock/policies/reload');
    assert.equal(reloaded.status, 200, JSON.stringify(reloaded.json));
    assert.deepEqual(reloaded.json.policies.map((p) => p.name), ['read-only']);
    const gone = await curl(missing.env, [`${originUrl}/policy-missing`]);
    assert.notEqual(gone.code, 0);  // "uploads" is gone again: refused at CONNECT
    assert.match(gone.stderr, /403/);
  } finally {
    assert.deepEqual(await daemon.stop(), { code: 0, signal: null });
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
