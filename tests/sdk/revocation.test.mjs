// Revocation through the real path: the API archives or deletes a session in the store, the store tells
// the snapshot publisher, and the proxy sees the new snapshot. A tunnel opened before is refused at its
// next request (403 session_closed), a CONNECT after is refused at once (407 proxy_auth_required), each
// with its exact status line, headers and body, byte for byte.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';

import { useOrigin } from './lib/origin.mjs';
import { useDaemon } from './lib/harness.mjs';

const { certificates, origin } = await useOrigin();

const ctx = useDaemon({ args: ['--upstream-ca', certificates.ca, '--resolve', 'metrics.test:127.0.0.1', '--allow-private', '127.0.0.1/32'] });

// Reads from `socket` until `done(buffer)` says the answer is complete, or the peer closes.
function readAnswer(socket, done) {
  return new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const finish = () => {
      socket.off('data', onData);
      socket.off('end', finish);
      socket.off('close', finish);
      resolve(buffer.toString('latin1'));
    };
    const onData = (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (done(buffer)) finish();
    };
    socket.on('data', onData);
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', reject);
    socket.setTimeout(10_000, () => reject(new Error('no answer within 10 s')));
  });
}

// A whole HTTP/1.1 response (with Content-Length) has arrived.
function complete(buffer) {
  const text = buffer.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end));
  return length !== null && buffer.length >= end + 4 + Number(length[1]);
}

async function connectThroughProxy(env) {
  const proxy = new URL(env.HTTPS_PROXY);
  const auth = Buffer.from(`${proxy.username}:${proxy.password}`).toString('base64');
  const socket = net.connect({ host: proxy.hostname, port: Number(proxy.port) });
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const target = `metrics.test:${origin.port}`;
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`);
  const answer = await readAnswer(socket, (buffer) => {
    const text = buffer.toString('latin1');
    return text.startsWith('HTTP/1.1 200') ? text.includes('\r\n\r\n') : complete(buffer);
  });
  return { socket, answer };
}

function request(secure, target, token) {
  secure.write(`GET ${target} HTTP/1.1\r\nHost: metrics.test:${origin.port}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  return readAnswer(secure, complete);
}

function refusal(status, statusText, word, proxyStatus, body, extra = '') {
  return `HTTP/1.1 ${status} ${statusText}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
         `Proxy-Status: airlock; error=${proxyStatus}; details="${word}"\r\nX-Airlock-Refusal: ${word}\r\n${extra}` +
         `Connection: close\r\n\r\n${body}`;
}

const kProxyAuthRequired = refusal(407, 'Proxy Authentication Required', 'proxy_auth_required', 'http_request_denied',
  'proxy_auth_required: send Proxy-Authorization: Basic with the session id as user and the session\'s proxy token as ' +
  'password; use HTTPS_PROXY and HTTP_PROXY from GET /v1/sessions/<id>/sandbox_env\n',
  'Proxy-Authenticate: Basic realm="airlock"\r\n');

for (const revoke of ['archive', 'delete']) {
  ctx.test(`${revoke}: an open tunnel is refused at its next request, a new CONNECT at once, each byte for byte`, async () => {
    const secret = ctx.secret(`sk-${revoke}`);
    const vault = await ctx.client.beta.vaults.create({ display_name: revoke });
    await ctx.client.beta.vaults.credentials.create(vault.id, {
      auth: { type: 'environment_variable', secret_name: 'METRICS_API_TOKEN', secret_value: secret,
              networking: { type: 'limited', allowed_hosts: ['metrics.test'] } },
    });
    const environment = await ctx.client.beta.environments.create({ name: revoke });
    const agent = await ctx.client.beta.agents.create({ name: revoke, model: 'claude-opus-5-5' });
    const session = await ctx.client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, vault_ids: [vault.id] });
    const { json: sandbox } = await ctx.raw('GET', `/v1/sessions/${session.id}/sandbox_env`);
    const { env } = sandbox;

    // Before: a tunnel, and a request through it that gets the real token.
    const { socket, answer } = await connectThroughProxy(env);
    assert.equal(answer, 'HTTP/1.1 200 Connection Established\r\n\r\n');
    const secure = tls.connect({ socket, servername: 'metrics.test', ca: fs.readFileSync(path.join(ctx.tmp, 'ca-bundle.pem')) });
    await new Promise((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
    const first = await request(secure, '/before', env.METRICS_API_TOKEN);
    assert.match(first, /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(origin.received.at(-1).headers.authorization, `Bearer ${secret}`);

    if (revoke === 'archive') await ctx.client.beta.sessions.archive(session.id);
    else await ctx.client.beta.sessions.delete(session.id);

    // The open tunnel: its next request is refused, and never reaches the origin.
    const seen = origin.received.length;
    const next = await request(secure, '/after', env.METRICS_API_TOKEN);
    assert.equal(next, refusal(403, 'Forbidden', 'session_closed', 'http_request_denied',
      `session_closed: session ${session.id} is no longer active (archived or deleted); start a new session\n`));
    assert.equal(origin.received.length, seen);
    secure.destroy();

    // A new CONNECT with the same credentials: 407 before any tunnel.
    const again = await connectThroughProxy(env);
    assert.equal(again.answer, kProxyAuthRequired);
    again.socket.destroy();
    assert.equal(origin.received.length, seen);
  });
}

ctx.test('no secret reached a response or the log', async () => {
  ctx.assertNoSecretsLeaked();
});
