// GET /metrics (docs/operations.md): the Prometheus text the daemon serves behind its API key, checked
// against what the test did through the real proxy with real curl: one request allowed with a
// substitution, one refused by the host policy, one deployment run, and the API requests that set them
// up. Counters are asserted to the exact value, the byte counters against the egress audit's own rows,
// and the text is checked line by line for the exposition format, bounded labels and no secret. The
// daemon also has a --metrics-listen listener (no key, /metrics and /healthz only, never reachable
// through the proxy) and logs in JSON lines (--log-format json). A second daemon runs with
// proxy.metrics_host_labels on: per-host series, and the open upstream connections gauge followed
// through one connection held mid-exchange by an origin that answers when told to.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

import { makeTempDir } from './lib/daemon.mjs';
import { useOrigin } from './lib/origin.mjs';
import { useDaemon } from './lib/harness.mjs';
import { curl } from './lib/curl.mjs';
import { waitUntil } from './lib/faults.mjs';

// The samples of a scrape: "name{labels}" -> value, with every line checked against the format.
function parseExposition(text) {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a line feed');
  const samples = new Map();
  const typed = new Map();
  const helped = new Set();
  for (const line of text.slice(0, -1).split('\n')) {
    let m = line.match(/^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$/);
    if (m) {
      assert.ok(!helped.has(m[1]), `one HELP line for ${m[1]}`);
      helped.add(m[1]);
      continue;
    }
    m = line.match(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$/);
    if (m) {
      assert.ok(!typed.has(m[1]), `one TYPE line for ${m[1]}`);
      typed.set(m[1], m[2]);
      continue;
    }
    m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)*\})? (\S+)$/);
    assert.ok(m, `a sample line: ${JSON.stringify(line)}`);
    const value = Number(m[3] === '+Inf' ? Infinity : m[3]);
    assert.ok(!Number.isNaN(value), `a number: ${line}`);
    const family = m[1].replace(/_(bucket|sum|count)$/, '');
    assert.ok(typed.has(m[1]) || typed.get(family) === 'histogram', `${m[1]} follows its TYPE line`);
    const key = `${m[1]}${m[2] ?? ''}`;
    assert.ok(!samples.has(key), `one sample for ${key}`);
    samples.set(key, value);
  }
  for (const name of typed.keys()) assert.ok(helped.has(name), `a HELP line for ${name}`);
  samples.typed = typed;  // family name -> type
  return samples;
}

const { certificates, origin } = await useOrigin();
const ctx = useDaemon({
  args: ['--upstream-ca', certificates.ca, '--resolve', 'metrics.test:127.0.0.1', '--allow-private', '127.0.0.1/32',
         '--metrics-listen', '127.0.0.1:0', '--log-format', 'json'],
});
const originUrl = `https://metrics.test:${origin.port}`;

ctx.test('GET /metrics needs the API key', async () => {
  const res = await ctx.raw('GET', '/metrics', { auth: false });
  assert.equal(res.status, 401);
  assert.equal(res.json.error.type, 'authentication_error');
  const post = await ctx.raw('POST', '/metrics', { body: {} });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET');
});

ctx.test('the counters match what went through the proxy and the API, exactly', async () => {
  const secret = ctx.secret('sk-metrics');
  const vault = await ctx.client.beta.vaults.create({ display_name: 'metrics' });
  await ctx.client.beta.vaults.credentials.create(vault.id, {
    auth: { type: 'environment_variable', secret_name: 'METRICS_API_TOKEN', secret_value: secret,
            networking: { type: 'limited', allowed_hosts: ['metrics.test'] } },
  });
  const environment = await ctx.client.beta.environments.create({
    name: 'metrics', config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: ['metrics.test'] } },
  });
  const agent = await ctx.client.beta.agents.create({ name: 'metrics', model: 'claude-opus-5-5' });
  const session = await ctx.client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, vault_ids: [vault.id] });
  const { json: sandbox } = await ctx.raw('GET', `/v1/sessions/${session.id}/sandbox_env`);
  const env = sandbox.env;

  const allowed = await curl(env, ['-H', `Authorization: Bearer ${env.METRICS_API_TOKEN}`, `${originUrl}/v1/metrics?window=1h`]);
  assert.equal(allowed.status, 200, allowed.stderr + allowed.body);
  const refused = await curl(env, ['https://elsewhere.test/']);
  assert.equal(refused.status, 0);  // the CONNECT got 403: curl reports no HTTP status of the origin
  assert.match(refused.stderr, /403/);

  const deployment = await ctx.client.beta.deployments.create({
    agent: agent.id, environment_id: environment.id, name: 'digest',
    initial_events: [{ type: 'user.message', content: [{ type: 'text', text: 'go' }] }],
    schedule: { type: 'cron', expression: '0 9 * * 1-5', timezone: 'UTC' },
  });
  const run = await ctx.client.beta.deployments.run(deployment.id);
  assert.equal(run.error, null);

  // The audit rows are the reference for the byte counters: wait for both to be written.
  let rows;
  await waitUntil(async () => {
    rows = (await ctx.raw('GET', `/v1/sessions/${session.id}/egress`)).json.data;
    return rows.length === 2;
  }, { what: 'two egress rows' });

  const res = await fetch(`${ctx.daemon.baseURL}/metrics`, { headers: { 'x-api-key': ctx.apiKey } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  assert.match(res.headers.get('request-id'), /^req_/);
  const text = await res.text();
  const m = parseExposition(text);
  const value = (key) => {
    assert.ok(m.has(key), `the scrape has ${key}`);
    return m.get(key);
  };

  // The proxy.
  assert.equal(value('airlock_proxy_requests_total{decision="allowed",reason=""}'), 1);
  assert.equal(value('airlock_proxy_requests_total{decision="denied",reason="host_not_allowed"}'), 1);
  assert.equal(value('airlock_proxy_requests_substituted_total'), 1);
  // The origin echoes the request, the real secret in it: the response came back redacted.
  assert.equal(value('airlock_proxy_responses_redacted_total'), 1);
  assert.equal(value('airlock_proxy_redactions_total{secret_name="METRICS_API_TOKEN"}'), 1);
  assert.equal([...m.keys()].filter((k) => k.startsWith('airlock_proxy_redactions_total{')).length, 1);
  assert.ok(!allowed.body.includes(secret) && allowed.body.includes(env.METRICS_API_TOKEN));
  assert.equal(value('airlock_proxy_substitutions_total{secret_name="METRICS_API_TOKEN",location="header"}'), 1);
  assert.equal(value('airlock_proxy_tls_handshakes_total{side="client"}'), 1);
  assert.equal(value('airlock_proxy_tls_handshakes_total{side="upstream"}'), 1);
  assert.equal(value('airlock_proxy_upstream_connections_opened_total'), 1);
  // That connection is idle in the pool until the origin (5 s keep-alive) or pool_idle_ms closes it.
  assert.ok([0, 1].includes(value('airlock_proxy_upstream_connections_open')));
  // proxy.metrics_host_labels is off: the family is announced, with no sample.
  assert.equal(m.typed.get('airlock_proxy_host_requests_total'), 'counter');
  assert.equal([...m.keys()].filter((k) => k.startsWith('airlock_proxy_host_requests_total')).length, 0);
  assert.equal(value('airlock_proxy_connections_accepted_total'), 2);
  assert.equal(value('airlock_proxy_leaf_cache_mints_total'), 1);
  const up = rows.reduce((sum, row) => sum + row.bytes_up, 0);
  const down = rows.reduce((sum, row) => sum + row.bytes_down, 0);
  assert.ok(up > 0 && down > 0);
  assert.equal(value('airlock_proxy_bytes_total{direction="up"}'), up);
  assert.equal(value('airlock_proxy_bytes_total{direction="down"}'), down);
  assert.equal(value('airlock_proxy_request_duration_seconds_count'), 2);
  assert.equal(value('airlock_proxy_request_duration_seconds_bucket{le="+Inf"}'), 2);
  assert.equal(value('airlock_proxy_upstream_connect_duration_seconds_count'), 1);
  assert.ok(value('airlock_proxy_request_duration_seconds_sum') > 0);
  // Buckets are cumulative.
  const buckets = [...m].filter(([k]) => k.startsWith('airlock_proxy_request_duration_seconds_bucket')).map(([, v]) => v);
  assert.equal(buckets.length, 16);
  assert.deepEqual(buckets, [...buckets].sort((a, b) => a - b));

  // The audit, the store and the API.
  assert.equal(value('airlock_audit_rows_dropped_total'), 0);
  assert.equal(value('airlock_audit_rows_written_total'), 2);
  assert.equal(value('airlock_audit_queue_depth'), 0);
  assert.equal(value('airlock_sessions{status="idle"}'), 2);  // the test's and the run's
  assert.equal(value('airlock_deployment_runs{outcome="session_created"}'), 1);
  assert.equal(value('airlock_api_requests_total{method="POST",route="/v1/vaults",status="200"}'), 1);
  assert.equal(value('airlock_api_requests_total{method="POST",route="/v1/deployments/{deployment_id}/run",status="200"}'), 1);
  assert.equal(value('airlock_api_requests_total{method="GET",route="other",status="401"}'), 1);
  assert.equal(value('airlock_api_requests_total{method="POST",route="/metrics",status="405"}'), 1);
  assert.ok(value('airlock_api_request_duration_seconds_count{route="/v1/sessions/{session_id}/egress"}') >= 1);
  assert.ok(value('airlock_snapshot_builds_total') >= 1);
  assert.equal(value('airlock_snapshot_build_failures_total'), 0);
  assert.equal(value('airlock_sandboxes_running'), 0);

  // The process.
  assert.ok(value('process_resident_memory_bytes') > 1 << 20);
  assert.ok(value('process_open_fds') > 5);
  const startedAt = value('process_start_time_seconds');
  assert.ok(startedAt <= Date.now() / 1000 && startedAt > Date.now() / 1000 - 600);

  // Bounded labels: no session id, host, path or secret anywhere in the text.
  for (const needle of [session.id, 'metrics.test', 'elsewhere.test', '/v1/metrics', secret, env.METRICS_API_TOKEN]) {
    assert.ok(!text.includes(needle), `the scrape does not contain ${needle}`);
  }
});

ctx.test('--metrics-listen serves /metrics without a key and /healthz, and nothing else', async () => {
  const base = `http://${ctx.daemon.ready.metrics}`;
  assert.match(ctx.daemon.ready.metrics, /^127\.0\.0\.1:\d+$/);
  const scrape = await fetch(`${base}/metrics`);
  assert.equal(scrape.status, 200);
  assert.equal(scrape.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const samples = parseExposition(await scrape.text());
  assert.equal(samples.get('airlock_proxy_requests_total{decision="allowed",reason=""}'), 1);
  const health = await fetch(`${base}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  // The API is not served there, with a key or without.
  const vaults = await fetch(`${base}/v1/vaults`, { headers: { 'x-api-key': ctx.apiKey } });
  assert.equal(vaults.status, 404);
  const body = await vaults.json();
  assert.equal(body.error.type, 'not_found_error');
  assert.equal(body.error.message, "this is Airlock's metrics listener: it serves GET /metrics and /healthz only; send GET " +
                                   '/v1/vaults to the API listener');
  const post = await fetch(`${base}/metrics`, { method: 'POST' });
  assert.equal(post.status, 405);
});

ctx.test('no sandbox reaches the metrics listener through the proxy, whatever it is allowed', async () => {
  const environment = await ctx.client.beta.environments.create({ name: 'open' });
  const agent = await ctx.client.beta.agents.create({ name: 'open', model: 'claude-opus-5-5' });
  const session = await ctx.client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
  const { json: sandbox } = await ctx.raw('GET', `/v1/sessions/${session.id}/sandbox_env`);
  const { NO_PROXY, no_proxy, ...proxied } = sandbox.env;  // loopback URLs through the proxy too
  assert.ok(NO_PROXY !== undefined && no_proxy !== undefined);
  const metrics = ctx.daemon.ready.metrics;
  const result = await curl(proxied, [`http://${metrics}/metrics`]);
  assert.equal(result.status, 403, result.stderr + result.body);
  assert.equal(result.body, `address_not_allowed: 127.0.0.1 is Airlock's own metrics listener (${metrics}); Airlock never proxies to itself\n`);
});

ctx.test('--log-format json: every line the daemon wrote is a JSON object with time, level, msg and its fields', async () => {
  const lines = ctx.daemon.stderr().split('\n').filter((line) => line.length > 0);
  assert.ok(lines.length > 10, `${lines.length} lines`);
  let requests = 0;
  for (const line of lines) {
    const entry = JSON.parse(line);
    assert.match(entry.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    assert.ok(['debug', 'info', 'warn', 'error'].includes(entry.level), line);
    assert.equal(typeof entry.msg, 'string');
    if (entry.msg.startsWith('request method=GET path=/metrics ')) {
      ++requests;
      assert.equal(entry.method, 'GET');
      assert.equal(entry.path, '/metrics');
      assert.match(entry.status, /^(200|401)$/);
      assert.match(entry.request_id, /^req_/);
    }
  }
  assert.ok(requests >= 3, `${requests} request lines for /metrics`);
});

ctx.test('examples/grafana/airlock.json queries only metrics the daemon serves, with their types', async () => {
  const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples/grafana/airlock.json');
  const dashboard = JSON.parse(fs.readFileSync(file, 'utf8'));
  const exprs = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));
  assert.ok(exprs.length > 30, `${exprs.length} queries`);
  const res = await fetch(`${ctx.daemon.baseURL}/metrics`, { headers: { 'x-api-key': ctx.apiKey } });
  const { typed } = parseExposition(await res.text());
  const used = new Set(exprs.flatMap((expr) => expr.match(/\b(airlock|process)_[a-z_]+/g) ?? []));
  for (const name of used) {
    if (name.endsWith('_bucket')) {
      assert.equal(typed.get(name.slice(0, -'_bucket'.length)), 'histogram', `${name} is a histogram's buckets`);
    } else {
      assert.ok(typed.has(name), `the dashboard queries ${name}, which the daemon does not serve`);
      // rate() and increase() only on counters.
      for (const expr of exprs.filter((e) => new RegExp(`(rate|increase)\\(${name}\\b`).test(e))) {
        assert.equal(typed.get(name), 'counter', `${expr}: ${name} is not a counter`);
      }
    }
  }
  // Every panel's query selects the job variable, so one dashboard serves several daemons.
  for (const expr of exprs) assert.match(expr, /job=~"\$job"/, expr);
});

// An HTTPS origin that holds each request until release() answers it: an upstream connection in use.
async function startHeldOrigin({ key, cert }) {
  const waiting = [];
  const server = https.createServer({ key, cert }, (req, res) => {
    req.resume();
    req.on('end', () => waiting.push(() => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
      res.end('ok');
    }));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { port: server.address().port, waiting, release: () => waiting.shift()() };
}

const held = await startHeldOrigin(certificates);
const hostsDir = makeTempDir('airlock-metrics-hosts-');
process.on('exit', () => fs.rmSync(hostsDir, { recursive: true, force: true }));
const hostsConfig = path.join(hostsDir, 'airlock.yaml');
// A pooled connection is closed after 1 s idle (swept every second), so the gauge comes back down quickly.
fs.writeFileSync(hostsConfig, 'proxy:\n  metrics_host_labels: true\n  timeouts:\n    pool_idle_ms: 1000\nruntime:\n  default_harness: none\n');
const hosts = useDaemon({
  args: ['--config', hostsConfig, '--upstream-ca', certificates.ca, '--resolve', 'metrics.test:127.0.0.1',
         '--allow-private', '127.0.0.1/32'],
});

hosts.test('proxy.metrics_host_labels: a series per host and decision; the upstream gauge follows a held connection', async () => {
  const scrape = async () => {
    const res = await fetch(`${hosts.daemon.baseURL}/metrics`, { headers: { 'x-api-key': hosts.apiKey } });
    assert.equal(res.status, 200);
    return parseExposition(await res.text());
  };
  const hostSeries = (m) => [...m.keys()].filter((k) => k.startsWith('airlock_proxy_host_requests_total{'));
  const environment = await hosts.client.beta.environments.create({
    name: 'hosts', config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: ['metrics.test'] } },
  });
  const agent = await hosts.client.beta.agents.create({ name: 'hosts', model: 'claude-opus-5-5' });
  const session = await hosts.client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
  const { json: sandbox } = await hosts.raw('GET', `/v1/sessions/${session.id}/sandbox_env`);

  let m = await scrape();
  assert.equal(m.get('airlock_proxy_upstream_connections_open'), 0);
  assert.deepEqual(hostSeries(m), []);

  // Mid-exchange: the origin has the request and has not answered; the client connection holds the one
  // upstream connection.
  const pending = curl(sandbox.env, [`https://metrics.test:${held.port}/held`]);
  await waitUntil(() => held.waiting.length === 1, { what: 'the request at the held origin' });
  m = await scrape();
  assert.equal(m.get('airlock_proxy_upstream_connections_open'), 1);
  assert.equal(m.get('airlock_proxy_upstream_connections_opened_total'), 1);
  held.release();
  const answered = await pending;
  assert.equal(answered.status, 200, answered.stderr + answered.body);
  assert.equal(answered.body, 'ok');

  const refused = await curl(sandbox.env, ['https://elsewhere.test/']);
  assert.equal(refused.status, 0);  // the CONNECT got 403
  assert.match(refused.stderr, /403/);

  // The connection went to the pool when curl left; idle for pool_idle_ms, it is closed.
  await waitUntil(async () => (await scrape()).get('airlock_proxy_upstream_connections_open') === 0,
                  { what: 'the pooled upstream connection closed' });
  // Both exchanges audited: the counters were bumped before the rows were queued.
  await waitUntil(async () => (await hosts.raw('GET', `/v1/sessions/${session.id}/egress`)).json.data.length === 2,
                  { what: 'two egress rows' });
  m = await scrape();
  assert.equal(m.get('airlock_proxy_host_requests_total{host="metrics.test",decision="allowed"}'), 1);
  assert.equal(m.get('airlock_proxy_host_requests_total{host="elsewhere.test",decision="denied"}'), 1);
  assert.equal(hostSeries(m).length, 2);
  assert.equal(m.get('airlock_proxy_upstream_connections_opened_total'), 1);
  assert.equal(m.get('airlock_proxy_upstream_connections_open'), 0);
});
