// Faults: the proxy deadlines too long for faults-timeouts.test.mjs, shortened through proxy.timeouts so
// each one can be seen to hold (docs/configuration.md, proxy.timeouts), and the caps on connections from
// one address (proxy.max_connections_per_source, api.max_connections_per_source):
//   upstream_response (1.5 s)  an origin that reads the request and never answers: 504 upstream_response_timeout;
//   body_idle (1.5 s)          a response body that stops half-way: the client connection is cut after its
//                              head and first bytes; a request body that stops half-way: the origin's
//                              connection is cut and the client's closed;
//   keep_alive_idle (1.5 s)    an idle client connection between requests is closed without a byte;
//   tunnel_idle (1.5 s)        a passthrough tunnel where nothing moves is closed;
//   pool_idle (1 s)            an idle pooled upstream connection is closed within 1.5 times the deadline;
//   per source (3)             a fourth connection from one address, idle ones holding the three, gets 429
//                              on the proxy and on the API, and room comes back when one closes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';

import { makeOriginCertificates } from './lib/origin.mjs';
import { makeTempDir } from './lib/daemon.mjs';
import { useDaemon } from './lib/harness.mjs';
import {
  connectThroughProxy, connectTcp, delay, faultOrigin, metricsSession, parseResponse, readUntil, refusal, response,
  tlsThroughProxy, waitUntil,
} from './lib/faults.mjs';

const certDir = makeTempDir('airlock-faults-short-');
const certificates = makeOriginCertificates(certDir, ['plain.test', 'metrics.test', 'pass.test']);
process.on('exit', () => fs.rmSync(certDir, { recursive: true, force: true }));

const kUpstreamResponseMs = 1_500;
const kBodyIdleMs = 1_500;
const kKeepAliveMs = 1_500;
const kTunnelIdleMs = 1_500;
const kPoolIdleMs = 1_000;
const kPerSource = 3;
const kSlack = 3_000;  // what a deadline may be late by, on a busy 2-core machine

const origin = await faultOrigin(certificates, (request, conn) => {
  if (request.path === '/stall') return;  // never answers
  if (request.path === '/half') {
    conn.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');  // and never the other 90 bytes
    return;
  }
  conn.write(response(200, 'fine'));
  conn.next();
});

const configFile = path.join(certDir, 'airlock.yaml');
fs.writeFileSync(configFile, `proxy:
  max_connections_per_source: ${kPerSource}
  passthrough_hosts: [pass.test]
  timeouts:
    upstream_response_ms: ${kUpstreamResponseMs}
    body_idle_ms: ${kBodyIdleMs}
    keep_alive_idle_ms: ${kKeepAliveMs}
    tunnel_idle_ms: ${kTunnelIdleMs}
    pool_idle_ms: ${kPoolIdleMs}
api:
  max_connections_per_source: ${kPerSource}
runtime:
  default_harness: none
`);
const ctx = useDaemon({
  args: ['--config', configFile, '--upstream-ca', certificates.ca, '--resolve', 'plain.test:127.0.0.1',
         '--resolve', 'metrics.test:127.0.0.1', '--resolve', 'pass.test:127.0.0.1', '--allow-private', '127.0.0.1/32'],
});

let env;
let ca;
let sessionId;

// Every test here holds at most kPerSource connections of the proxy's at a time: they run one by one.
ctx.test('setup: a session', async () => {
  const made = await metricsSession(ctx);
  ({ env, ca } = made);
  sessionId = made.session.id;
});

async function closedWithin(socket, limitMs) {
  const started = Date.now();
  const read = await readUntil(socket, () => false, { timeoutMs: limitMs + kSlack });
  return { ...read, ms: Date.now() - started };
}

ctx.test('upstream_response: an origin that never answers is 504 upstream_response_timeout at the deadline', async () => {
  const { secure } = await tlsThroughProxy(env, 'plain.test', origin.port, { ca });
  const started = Date.now();
  secure.write(`GET /stall HTTP/1.1\r\nHost: plain.test:${origin.port}\r\n\r\n`);
  const read = await readUntil(secure, (buffer) => parseResponse(buffer).complete, { timeoutMs: kUpstreamResponseMs + kSlack });
  const ms = Date.now() - started;
  secure.destroy();
  assert.equal(read.data.toString('latin1'), refusal(504, 'Gateway Timeout', 'upstream_response_timeout', 'http_response_timeout',
    'upstream_response_timeout: plain.test did not send a response in time\n'));
  assert.ok(ms >= kUpstreamResponseMs - 200 && ms <= kUpstreamResponseMs + kSlack, `answered after ${ms} ms`);
});

ctx.test('body_idle: a response body that stops half-way is cut: the client connection ends after what came', async () => {
  const { secure, raw } = await tlsThroughProxy(env, 'plain.test', origin.port, { ca });
  secure.write(`GET /half HTTP/1.1\r\nHost: plain.test:${origin.port}\r\n\r\n`);
  const started = Date.now();
  const read = await readUntil(secure, () => false, { timeoutMs: kBodyIdleMs + kSlack });
  const ms = Date.now() - started;
  raw.destroy();
  const got = parseResponse(read.data);
  assert.equal(got.status, 200);
  assert.equal(got.body.toString(), '0123456789');
  assert.equal(got.complete, false);
  assert.notEqual(read.ended, 'timeout', 'still open after the body deadline');
  assert.ok(ms >= kBodyIdleMs - 200, `cut after ${ms} ms, before the body deadline`);
});

ctx.test('body_idle: a request body that stops half-way cuts the origin connection and closes the client', async () => {
  const cutBefore = origin.cut.length;
  const { secure } = await tlsThroughProxy(env, 'plain.test', origin.port, { ca });
  secure.write(`POST /upload HTTP/1.1\r\nHost: plain.test:${origin.port}\r\nContent-Length: 100\r\n\r\n0123456789`);
  const got = await closedWithin(secure, kBodyIdleMs);
  secure.destroy();
  assert.notEqual(got.ended, 'timeout', 'the client connection outlived the body deadline');
  assert.ok(got.ms >= kBodyIdleMs - 200, `closed after ${got.ms} ms, before the body deadline`);
  await waitUntil(() => origin.cut.length > cutBefore, { what: 'the origin to see its request cut' });
  assert.deepEqual(origin.cut.at(-1), { path: '/upload', received: 10 });
});

ctx.test('keep_alive_idle: an idle client connection between requests is closed without a byte', async () => {
  const { secure } = await tlsThroughProxy(env, 'plain.test', origin.port, { ca });
  secure.write(`GET /one HTTP/1.1\r\nHost: plain.test:${origin.port}\r\n\r\n`);
  const first = await readUntil(secure, (buffer) => parseResponse(buffer).complete);
  assert.equal(parseResponse(first.data).body.toString(), 'fine');
  const got = await closedWithin(secure, kKeepAliveMs);
  secure.destroy();
  assert.equal(got.data.length, 0);
  assert.notEqual(got.ended, 'timeout', 'the idle connection outlived keep_alive_idle');
  assert.ok(got.ms >= kKeepAliveMs - 500, `closed after ${got.ms} ms, before keep_alive_idle`);
});

ctx.test('tunnel_idle: a passthrough tunnel where nothing moves is closed at the deadline', async () => {
  // pass.test is passed through: the client's TLS goes to the origin untouched (its certificate, not Airlock's).
  const { socket, head } = await connectThroughProxy(env, `pass.test:${origin.port}`);
  assert.ok(head.startsWith('HTTP/1.1 200'), head);
  const secure = tls.connect({ socket, servername: 'pass.test', ca: fs.readFileSync(certificates.ca) });
  secure.on('error', () => {});
  await new Promise((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
  secure.write(`GET /through HTTP/1.1\r\nHost: pass.test\r\n\r\n`);
  const first = await readUntil(secure, (buffer) => parseResponse(buffer).complete);
  assert.equal(parseResponse(first.data).body.toString(), 'fine');
  const got = await closedWithin(secure, kTunnelIdleMs);
  secure.destroy();
  assert.notEqual(got.ended, 'timeout', 'the idle tunnel outlived tunnel_idle');
  assert.ok(got.ms >= kTunnelIdleMs - 500, `closed after ${got.ms} ms, before tunnel_idle`);
});

ctx.test('pool_idle: an idle pooled upstream connection is closed within 1.5 times the deadline', async () => {
  await waitUntil(() => origin.openConnections() === 0, { timeoutMs: 3 * kPoolIdleMs + kSlack, what: 'no origin connection left' });
  const { secure } = await tlsThroughProxy(env, 'plain.test', origin.port, { ca });
  secure.write(`GET /pooled HTTP/1.1\r\nHost: plain.test:${origin.port}\r\n\r\n`);
  const read = await readUntil(secure, (buffer) => parseResponse(buffer).complete);
  assert.equal(parseResponse(read.data).body.toString(), 'fine');
  secure.destroy();  // the client goes; the upstream connection stays in the pool
  const started = Date.now();
  await delay(200);
  assert.equal(origin.openConnections(), 1, 'the upstream connection is kept for reuse');
  await waitUntil(() => origin.openConnections() === 0, { timeoutMs: 1.5 * kPoolIdleMs + kSlack, what: 'the pooled connection to close' });
  const ms = Date.now() - started;
  assert.ok(ms >= kPoolIdleMs - 300, `closed after ${ms} ms, before pool_idle`);
});

ctx.test('max_connections_per_source: a fourth proxy connection from one address gets 429, room comes back', async () => {
  const held = [];
  for (let i = 0; i < kPerSource; i += 1) held.push(await connectTcp('127.0.0.1', Number(new URL(env.HTTPS_PROXY).port)));
  try {
    const fourth = await connectTcp('127.0.0.1', Number(new URL(env.HTTPS_PROXY).port));
    const read = await readUntil(fourth, (buffer) => parseResponse(buffer).complete);
    fourth.destroy();
    assert.equal(read.data.toString('latin1'), refusal(429, 'Too Many Requests', 'source_connection_limit', 'connection_limit_reached',
      `source_connection_limit: 127.0.0.1 already holds ${kPerSource} open connections to Airlock's proxy, the limit for one ` +
      'address; close some or reuse them (keep-alive), or raise proxy.max_connections_per_source\n', 'Retry-After: 1\r\n'));
  } finally {
    for (const socket of held) socket.destroy();
  }
  // Once they are closed, the address has room again.
  await waitUntil(async () => {
    try {
      const { secure } = await tlsThroughProxy(env, 'plain.test', origin.port, { ca });
      secure.destroy();
      return true;
    } catch {
      return false;
    }
  }, { what: 'a new connection to be accepted' });
});

ctx.test('api.max_connections_per_source: a fourth API connection from one address gets 429 rate_limit_error', async () => {
  const { hostname, port } = new URL(ctx.daemon.baseURL);
  const held = [];
  for (let i = 0; i < kPerSource; i += 1) {
    const socket = await connectTcp(hostname, Number(port));
    socket.on('error', () => {});
    held.push(socket);
  }
  try {
    await delay(100);  // the daemon has accepted and counted them
    const fourth = await connectTcp(hostname, Number(port));
    fourth.on('error', () => {});
    const read = await readUntil(fourth, (buffer) => parseResponse(buffer).complete);
    fourth.destroy();
    const answer = parseResponse(read.data);
    assert.equal(answer.status, 429);
    assert.equal(answer.headers['retry-after'], '1');
    assert.equal(answer.headers.connection, 'close');
    const body = JSON.parse(answer.body.toString());
    assert.deepEqual(body.error, {
      type: 'rate_limit_error',
      message: `${hostname} already holds ${kPerSource} open connections to the API, the limit for one address; close ` +
               'some or reuse them (keep-alive), or raise api.max_connections_per_source',
    });
    assert.equal(body.request_id, answer.headers['request-id']);
  } finally {
    for (const socket of held) socket.destroy();
  }
  await waitUntil(async () => (await ctx.raw('GET', '/v1/vaults')).status === 200, { what: 'the API to answer again' });
});

ctx.test('the egress audit of the session shows the timeouts', async () => {
  const { status, json } = await ctx.raw('GET', `/v1/sessions/${sessionId}/egress?limit=100`);
  assert.equal(status, 200);
  const reasons = json.data.map((row) => row.reason);
  assert.ok(reasons.includes('upstream_response_timeout'), JSON.stringify(reasons));
});
