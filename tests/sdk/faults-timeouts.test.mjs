// Peers that stall, through a real daemon: every deadline of the proxy's ProxyTimeouts that can be reached
// in well under a minute with the built-in values (they are not configurable: no YAML key or flag sets
// them), and the request head deadline of the API. The cases run concurrently, so the file takes about
// as long as the longest deadline (30 s):
//   upstream_connect (10 s)  an origin that accepts TCP and never answers the TLS handshake: 504
//                            upstream_connect_timeout, byte for byte, and an audit row;
//   client_handshake (10 s)  a CONNECT whose client never starts TLS: the connection is closed;
//   tls_shutdown (2 s)       a client that keeps sending after a refusal is cut once the linger is over;
//   drain (5 s)              SIGTERM with an exchange waiting on a silent upstream: exit 0 within the drain;
//   request_head (30 s)      slowloris: a head that comes one byte a second gets 408 request_timeout 30 s
//                            after its first byte, on the proxy (CONNECT, and inside a tunnel); the API
//                            must cut such a head at its own head timeout (30 s) as well.
// body_idle (60 s), keep_alive_idle (60 s), upstream_response (300 s), tunnel_idle (300 s) and pool_idle
// (30 s) are too long for this suite: faults-timeouts-short.test.mjs shortens them through proxy.timeouts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe } from 'node:test';

import { makeOriginCertificates } from './lib/origin.mjs';
import { makeTempDir, randomApiKey, start } from './lib/daemon.mjs';
import { Anthropic, useDaemon } from './lib/harness.mjs';
import {
  connectTcp, connectThroughProxy, faultOrigin, parseResponse, proxyOf, readUntil, refusal, response, tlsThroughProxy,
  waitUntil,
} from './lib/faults.mjs';

const certDir = makeTempDir('airlock-faults-origin-');
const certificates = makeOriginCertificates(certDir, ['plain.test', 'blackhole.test']);
process.on('exit', () => fs.rmSync(certDir, { recursive: true, force: true }));

const kHeadTimeoutMs = 30_000;     // ProxyTimeouts::request_head, ApiLimits::head_timeout
const kConnectTimeoutMs = 10_000;  // ProxyTimeouts::upstream_connect
const kHandshakeTimeoutMs = 10_000;  // ProxyTimeouts::client_handshake
const kLingerMs = 2_000;           // ProxyTimeouts::tls_shutdown
const kDrainMs = 5_000;            // ProxyTimeouts::drain
const kSlack = 4_000;              // what a deadline may be late by, on a busy 2-core machine

const origin = await faultOrigin(certificates, (request, conn) => {
  if (request.path === '/stall') return;  // never answers
  conn.write(response(200, 'fine'));
  conn.next();
});

// Accepts TCP connections and never sends a byte.
const blackholeSockets = new Set();
const blackhole = net.createServer((socket) => {
  blackholeSockets.add(socket);
  socket.on('error', () => {});
  socket.on('close', () => blackholeSockets.delete(socket));
  socket.resume();  // reads (and drops) the ClientHello, so the proxy's close is seen
});
await new Promise((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
const blackholePort = blackhole.address().port;

const daemonArgs = ['--upstream-ca', certificates.ca, '--resolve', 'plain.test:127.0.0.1',
                    '--resolve', 'blackhole.test:127.0.0.1', '--allow-private', '127.0.0.1/32'];
const ctx = useDaemon({ args: daemonArgs });

const others = [];  // daemons started by the tests themselves
after(async () => {
  for (const { daemon, dataDir } of others) {
    await daemon.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  for (const socket of blackholeSockets) socket.destroy();
  blackhole.close();
});

async function sessionEnv(client, daemon) {
  const environment = await client.beta.environments.create({ name: 'stall' });
  const agent = await client.beta.agents.create({ name: 'stall', model: 'claude-opus-5-5' });
  const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
  const res = await fetch(`${daemon.baseURL}/v1/sessions/${session.id}/sandbox_env`, { headers: { 'x-api-key': daemon.apiKey } });
  assert.equal(res.status, 200);
  return { session, env: (await res.json()).env };
}

let env;
let session;
let ca;

ctx.test('setup: a session', async () => {
  ({ session, env } = await sessionEnv(ctx.client, ctx.daemon));
  ca = fs.readFileSync(path.join(ctx.tmp, 'ca-bundle.pem'));
});

// Sends `text` one byte a second until the peer closes; resolves {data, ended, ms} where ms counts from
// the first byte.
function slowloris(socket, text) {
  const started = Date.now();
  let at = 0;
  const send = () => {
    if (at < text.length && !socket.destroyed && socket.writable) socket.write(text[at++]);
  };
  send();
  const timer = setInterval(send, 1000);
  return readUntil(socket, () => false, { timeoutMs: kHeadTimeoutMs + kSlack + 2_000 }).then((read) => {
    clearInterval(timer);
    socket.destroy();
    return { ...read, ms: Date.now() - started };
  });
}

const kSlowHead = (line) => `${line}\r\nHost: plain.test\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`;
const kRequestTimeout = refusal(408, 'Request Timeout', 'request_timeout', 'http_request_error',
  'request_timeout: the request head did not arrive in time; send the whole head at once\n');

function assertCutAtHeadTimeout(got, what) {
  assert.notEqual(got.ended, 'timeout', `${what}: still open ${got.ms} ms after the first byte of a head sent a byte a second`);
  assert.ok(got.ms >= kHeadTimeoutMs - 1_000, `${what}: cut after ${got.ms} ms, before the head timeout`);
  assert.ok(got.ms <= kHeadTimeoutMs + kSlack, `${what}: cut only after ${got.ms} ms`);
}

describe('stalled peers', { concurrency: true }, () => {
  ctx.test('upstream_connect: an origin that never answers the TLS handshake is 504 upstream_connect_timeout', async () => {
    const { secure } = await tlsThroughProxy(env, 'blackhole.test', blackholePort, { ca });
    const started = Date.now();
    secure.write(`GET /never HTTP/1.1\r\nHost: blackhole.test:${blackholePort}\r\n\r\n`);
    const read = await readUntil(secure, (buffer) => parseResponse(buffer).complete, { timeoutMs: kConnectTimeoutMs + kSlack });
    const ms = Date.now() - started;
    secure.destroy();
    assert.equal(read.data.toString('latin1'), refusal(504, 'Gateway Timeout', 'upstream_connect_timeout', 'connection_timeout',
      `upstream_connect_timeout: blackhole.test port ${blackholePort} did not accept a connection in time\n`));
    assert.ok(ms >= kConnectTimeoutMs - 1_000, `answered after ${ms} ms`);
    const row = await waitUntil(async () => {
      const { json } = await ctx.raw('GET', `/v1/sessions/${session.id}/egress`);
      return json.data.find((r) => r.path === '/never');
    }, { what: 'the audit row' });
    assert.deepEqual([row.host, row.port, row.status, row.decision, row.reason],
                     ['blackhole.test', blackholePort, 504, 'error', 'upstream_connect_timeout']);
    await waitUntil(() => blackholeSockets.size === 0, { what: 'the proxy to drop its half-open upstream connection' });
  });

  ctx.test('client_handshake: a tunnel whose client never starts TLS is closed', async () => {
    const { socket, head } = await connectThroughProxy(env, `plain.test:${origin.port}`);
    assert.equal(head, 'HTTP/1.1 200 Connection Established\r\n\r\n');
    const started = Date.now();
    const read = await readUntil(socket, () => false, { timeoutMs: kHandshakeTimeoutMs + kSlack });
    const ms = Date.now() - started;
    socket.destroy();
    assert.notEqual(read.ended, 'timeout', 'still open');
    assert.equal(read.data.length, 0);
    assert.ok(ms >= kHandshakeTimeoutMs - 1_000, `closed after ${ms} ms`);
  });

  ctx.test('tls_shutdown: after a refusal, a client that keeps sending is cut once the linger is over', async () => {
    const proxy = proxyOf(env);
    const socket = net.connect({ host: proxy.host, port: proxy.port, allowHalfOpen: true });
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.on('error', () => {});
    socket.write('CONNECT plain.test:443 HTTP/1.1\r\nHost: plain.test:443\r\n\r\n');  // no Proxy-Authorization: 407
    const answer = await readUntil(socket, (buffer) => parseResponse(buffer).complete);
    assert.match(answer.data.toString('latin1'), /^HTTP\/1\.1 407 Proxy Authentication Required\r\n/);
    const started = Date.now();
    const timer = setInterval(() => { if (socket.writable) socket.write('z'.repeat(100)); }, 50);
    const closed = await new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), kLingerMs + kSlack);
      socket.once('close', () => { clearTimeout(t); resolve(true); });
      socket.resume();
    });
    clearInterval(timer);
    socket.destroy();
    assert.ok(closed, 'the proxy kept a refused connection open past its linger');
    assert.ok(Date.now() - started >= kLingerMs - 500, `cut after ${Date.now() - started} ms`);
  });

  ctx.test('drain: SIGTERM with an exchange waiting on a silent upstream exits 0 within the drain', async () => {
    const dataDir = makeTempDir('airlock-faults-drain-');
    const daemon = await start({ dataDir, apiKey: randomApiKey(), args: daemonArgs });
    others.push({ daemon, dataDir });
    const client = new Anthropic({ apiKey: daemon.apiKey, baseURL: daemon.baseURL, maxRetries: 0 });
    const { env: drainEnv } = await sessionEnv(client, daemon);
    const { secure } = await tlsThroughProxy(drainEnv, 'plain.test', origin.port, { ca: fs.readFileSync(path.join(dataDir, 'ca-bundle.pem')) });
    secure.write(`GET /stall HTTP/1.1\r\nHost: plain.test:${origin.port}\r\n\r\n`);
    await waitUntil(() => origin.heads.has('/stall'), { what: 'the request to reach the origin' });
    const reading = readUntil(secure, () => false, { timeoutMs: kDrainMs + kSlack });
    const started = Date.now();
    const status = await Promise.race([daemon.kill('SIGTERM'), new Promise((resolve) => setTimeout(() => resolve(null), kDrainMs + kSlack))]);
    const ms = Date.now() - started;
    assert.deepEqual(status, { code: 0, signal: null }, `no clean exit within ${kDrainMs + kSlack} ms of SIGTERM`);
    assert.ok(ms <= kDrainMs + kSlack, `exited after ${ms} ms`);
    const read = await reading;
    assert.notEqual(read.ended, 'timeout', 'the client connection outlived the daemon');
  });

  ctx.test('slowloris on the proxy, CONNECT head: 408 request_timeout 30 s after the first byte', async () => {
    const proxy = proxyOf(env);
    const socket = await connectTcp(proxy.host, proxy.port);
    socket.on('error', () => {});
    const got = await slowloris(socket, kSlowHead(`CONNECT plain.test:${origin.port} HTTP/1.1`));
    assert.equal(got.data.toString('latin1'), kRequestTimeout);
    assertCutAtHeadTimeout(got, 'the proxy');
  });

  ctx.test('slowloris on the proxy, inside a tunnel: 408 request_timeout 30 s after the first byte', async () => {
    const { secure } = await tlsThroughProxy(env, 'plain.test', origin.port, { ca });
    const got = await slowloris(secure, kSlowHead('GET /slow HTTP/1.1'));
    assert.equal(got.data.toString('latin1'), kRequestTimeout);
    assertCutAtHeadTimeout(got, 'the proxy, in a tunnel');
  });

  // The API answers a body that stalls with 408 timeout_error; a head cut at its timeout may be answered
  // the same way, or closed without a word.
  ctx.test('slowloris on the API: the head is cut 30 s after its first byte', async () => {
    const { hostname, port } = new URL(ctx.daemon.baseURL);
    const socket = await connectTcp(hostname, Number(port));
    socket.on('error', () => {});
    const got = await slowloris(socket, `GET /v1/vaults HTTP/1.1\r\nHost: airlock\r\nx-api-key: ${ctx.apiKey}\r\n` +
                                        `X-Slow: ${'a'.repeat(200)}\r\n\r\n`);
    assertCutAtHeadTimeout(got, 'the API');
    if (got.data.length > 0) {
      const answer = parseResponse(got.data);
      assert.equal(answer.status, 408, got.data.toString('latin1'));
      assert.equal(JSON.parse(answer.body.toString()).error.type, 'timeout_error');
    }
  });
});

ctx.test('the daemon still serves the API and the proxy after every stall', async () => {
  const { secure } = await tlsThroughProxy(env, 'plain.test', origin.port, { ca });
  secure.write(`GET /after HTTP/1.1\r\nHost: plain.test:${origin.port}\r\n\r\n`);
  const read = await readUntil(secure, (buffer) => parseResponse(buffer).complete);
  secure.destroy();
  assert.equal(parseResponse(read.data).body.toString(), 'fine');
  const vaults = await ctx.client.beta.vaults.list();
  assert.ok(Array.isArray(vaults.data));
});
