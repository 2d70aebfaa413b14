// An upstream that dies in the middle of a response body, through a real daemon: the origin writes a head
// and part of the body (Content-Length, chunked, or delimited by the connection's end), then resets the
// connection (RST), closes it without a TLS close_notify, or closes it cleanly. What the sandbox sees
// must be a failure it can tell from a complete response: a Content-Length body short of its length and
// the connection closed, a chunked body with no terminating chunk (the proxy must not write a 0-chunk it
// never got), a held body (a host that receives credentials) answered 502 upstream_closed; the proxy goes
// on serving, and the audit records each cut exchange as an error.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { makeOriginCertificates } from './lib/origin.mjs';
import { makeTempDir } from './lib/daemon.mjs';
import { useDaemon } from './lib/harness.mjs';
import {
  chunk, faultOrigin, parseResponse, readUntil, recordTypes, refusal, response, tlsThroughProxy, waitUntil, metricsSession,
} from './lib/faults.mjs';

const certDir = makeTempDir('airlock-faults-origin-');
const certificates = makeOriginCertificates(certDir, ['metrics.test', 'plain.test']);
process.on('exit', () => fs.rmSync(certDir, { recursive: true, force: true }));

const kBody = 'x'.repeat(1000);
const kSent = 100;  // body bytes the origin writes before it dies

// The way the origin ends the connection: the second part of the path (/cl/reset/..., /chunked/fin/...).
function die(conn, how) {
  if (how === 'reset') conn.reset();
  else if (how === 'fin') conn.fin();
  else conn.end();
}

// Cut responses wait for the test to say when to die (once the client has seen the first bytes, so the
// proxy has read them before an RST could discard them), unless the path ends in /now.
const cutters = new Map();

const origin = await faultOrigin(certificates, (request, conn) => {
  const [, framing, how, when] = request.path.split('/');
  if (framing === 'ok') {
    conn.write(response(200, 'fine'));
    conn.next();
    return;
  }
  if (framing === 'cl') {
    conn.write(response(200, kBody).slice(0, -(kBody.length - kSent)));
  } else if (framing === 'chunked') {
    conn.write(response(200, '', { 'Content-Length': null, 'Transfer-Encoding': 'chunked' }) + chunk(kBody.slice(0, 50)) +
               chunk(kBody.slice(50, kSent)));
  } else if (framing === 'close') {
    conn.write(response(200, '', { 'Content-Length': null, Connection: 'close' }) + kBody.slice(0, kSent));
  }
  if (when === 'now') setTimeout(() => die(conn, how), 50);
  else cutters.set(request.path, () => die(conn, how));
});

const ctx = useDaemon({
  args: ['--upstream-ca', certificates.ca, '--resolve', 'metrics.test:127.0.0.1', '--resolve', 'plain.test:127.0.0.1',
         '--allow-private', '127.0.0.1/32'],
});

let env;
let session;
let ca;

ctx.test('setup: a session whose credential may go to metrics.test, not to plain.test', async () => {
  ({ session, env, ca } = await metricsSession(ctx));
});

// One request through a fresh tunnel. With `cutWhen`, reads until cutWhen(bytes so far) holds, then has
// the origin die. Then reads until the response is complete by its framing (the proxy may keep the
// connection then) or the proxy closes the connection (or 10 s pass).
async function exchange(host, target, { version = '1.1', tls12 = false, cutWhen = null } = {}) {
  const { secure, wire } = await tlsThroughProxy(env, host, origin.port, { ca, tls12 });
  secure.write(`GET ${target} HTTP/${version}\r\nHost: ${host}:${origin.port}\r\n\r\n`);
  let data = Buffer.alloc(0);
  if (cutWhen) {
    const first = await readUntil(secure, cutWhen, { timeoutMs: 10_000 });
    assert.equal(first.ended, 'done', `the first bytes did not arrive: ${first.data.toString('latin1')}`);
    data = first.data;
    await waitUntil(() => cutters.has(target), { what: `the origin to hold ${target}` });
    cutters.get(target)();
  }
  const read = await readUntil(secure, (buffer) => parseResponse(Buffer.concat([data, buffer])).complete,
                               { timeoutMs: 10_000 });
  secure.destroy();
  data = Buffer.concat([data, read.data]);
  return { data, ended: read.ended, response: parseResponse(data), wire: wire() };
}

// cutWhen conditions: the head has arrived; the head and `n` body bytes have arrived.
const afterHead = (buffer) => parseResponse(buffer).status !== null;
const afterBody = (n) => (buffer) => parseResponse(buffer).body.length >= n;

// The audit row of the exchange to `host` and `target`, once the writer has stored it.
async function auditRow(host, target) {
  return waitUntil(async () => {
    const { json } = await ctx.raw('GET', `/v1/sessions/${session.id}/egress?limit=1000`);
    return json.data.find((row) => row.host === host && row.path === target);
  }, { what: `the audit row of ${host}${target}` });
}

// What a cut response must look like to the client: the origin's status and framing, a body that is a
// prefix of what the origin sent (a scanned body may hold back a few bytes that could begin a secret),
// incomplete by its framing, and the connection closed by the proxy.
function assertCut(got, framing) {
  const text = got.data.toString('latin1');
  assert.equal(got.response.status, 200, text);
  assert.equal(got.response.framing, framing, text);
  assert.equal(got.response.complete, false, `the response looks complete to the client:\n${text}`);
  assert.ok(kBody.slice(0, kSent).startsWith(got.response.body.toString()), text);
  assert.ok(['end', 'close', 'error'].includes(got.ended), `the proxy must close the client connection (${got.ended})`);
}

async function assertCutAudited(host, target, status) {
  const row = await auditRow(host, target);
  assert.equal(row.decision, 'error', JSON.stringify(row));
  assert.equal(row.reason, 'upstream_closed', JSON.stringify(row));
  assert.equal(row.status, status, JSON.stringify(row));
  assert.equal(row.method, 'GET');
  assert.equal(row.port, origin.port);
}

for (const how of ['reset', 'fin', 'close_notify']) {
  ctx.test(`Content-Length body cut (${how}), host without credentials: short body, connection closed, audited`, async () => {
    const target = `/cl/${how}/plain`;
    const got = await exchange('plain.test', target, { cutWhen: afterBody(kSent) });
    assertCut(got, 'length');
    assert.equal(got.response.headers['content-length'], String(kBody.length));
    assert.equal(got.response.body.toString(), kBody.slice(0, kSent));
    await assertCutAudited('plain.test', target, 200);
  });

  ctx.test(`chunked body cut (${how}), host without credentials: no terminating chunk, connection closed, audited`, async () => {
    const target = `/chunked/${how}/plain`;
    const got = await exchange('plain.test', target, { cutWhen: afterBody(kSent) });
    assertCut(got, 'chunked');
    assert.equal(got.response.body.toString(), kBody.slice(0, kSent));
    await assertCutAudited('plain.test', target, 200);
  });

  ctx.test(`Content-Length body cut (${how}), host that receives credentials: 502 upstream_closed, byte for byte`, async () => {
    // The body is held to be scanned whole: nothing reaches the client before the cut, whenever it comes.
    const target = `/cl/${how}/now`;
    const got = await exchange('metrics.test', target);
    assert.equal(got.ended, 'done');
    assert.equal(got.data.toString('latin1'), refusal(502, 'Bad Gateway', 'upstream_closed', 'http_response_incomplete',
      'upstream_closed: metrics.test closed the connection before a complete response\n'));
    await assertCutAudited('metrics.test', target, 502);
  });

  ctx.test(`chunked body cut (${how}), host that receives credentials (scanned): no terminating chunk, audited`, async () => {
    const target = `/chunked/${how}/credential`;
    const got = await exchange('metrics.test', target, { cutWhen: afterHead });
    assertCut(got, 'chunked');
    await assertCutAudited('metrics.test', target, 200);
  });
}

// A body delimited by the connection's end is complete only when the origin closed cleanly: an RST is not a
// clean end, and neither is a TCP close without TLS close_notify (RFC 9112 §9.8: "A response that has
// neither chunked transfer coding nor Content-Length is complete only if a valid closure alert has been
// received"). The proxy re-frames such a body as chunked for an HTTP/1.1 client; it may add the
// terminating chunk only after a clean end.
ctx.test('close-delimited body, clean close (close_notify): the client gets the body and the terminating chunk', async () => {
  for (const host of ['plain.test', 'metrics.test']) {
    const target = `/close/close_notify/${host}`;
    const got = await exchange(host, target, { cutWhen: afterHead });
    assert.equal(got.ended, 'done');
    assert.equal(got.response.status, 200, got.data.toString('latin1'));
    assert.equal(got.response.framing, 'chunked');
    assert.equal(got.response.complete, true, got.data.toString('latin1'));
    assert.equal(got.response.body.toString(), kBody.slice(0, kSent));
    const row = await auditRow(host, target);
    assert.equal(row.decision, 'allowed', JSON.stringify(row));
    assert.equal(row.reason, null);
  }
});

for (const how of ['reset', 'fin']) {
  for (const [host, cutWhen] of [['plain.test', afterBody(kSent)], ['metrics.test', afterHead]]) {
    ctx.test(`close-delimited body cut (${how}), ${host}: no terminating chunk, connection closed, audited`, async () => {
      const target = `/close/${how}/${host}`;
      const got = await exchange(host, target, { cutWhen });
      assertCut(got, 'chunked');
      await assertCutAudited(host, target, 200);
    });
  }
}

// An HTTP/1.0 client gets a body delimited by the connection's end, so the only way the proxy can tell it
// that the body was cut is to end the connection without TLS close_notify. Capped at TLS 1.2, the
// records the proxy sent are visible: after the body there must be no alert record (type 21).
ctx.test('HTTP/1.0 client, chunked body cut upstream: the proxy closes without close_notify', async () => {
  const control = await exchange('plain.test', '/close/close_notify/http10', { version: '1.0', tls12: true, cutWhen: afterBody(kSent) });
  assert.equal(control.response.status, 200, control.data.toString('latin1'));
  assert.equal(control.response.framing, 'close');
  assert.equal(control.response.body.toString(), kBody.slice(0, kSent));
  assert.equal(recordTypes(control.wire).at(-1), 21, 'a complete close-delimited body ends with close_notify');

  const target = '/chunked/reset/http10';
  const got = await exchange('plain.test', target, { version: '1.0', tls12: true, cutWhen: afterBody(kSent) });
  assert.equal(got.response.status, 200, got.data.toString('latin1'));
  assert.equal(got.response.framing, 'close');
  assert.equal(got.response.body.toString(), kBody.slice(0, kSent));
  assert.deepEqual(recordTypes(got.wire).filter((type) => type === 21), [],
    'a close_notify after a cut body makes it look complete to an HTTP/1.0 client');
  await assertCutAudited('plain.test', target, 200);
});

ctx.test('after every cut, the proxy still serves: new tunnels and keep-alive requests get whole responses', async () => {
  const { secure } = await tlsThroughProxy(env, 'plain.test', origin.port, { ca });
  for (let i = 0; i < 3; i++) {
    secure.write(`GET /ok/${i} HTTP/1.1\r\nHost: plain.test:${origin.port}\r\n\r\n`);
    const read = await readUntil(secure, (buffer) => parseResponse(buffer).complete);
    assert.equal(read.ended, 'done');
    const got = parseResponse(read.data);
    assert.equal(got.status, 200);
    assert.equal(got.body.toString(), 'fine');
  }
  secure.destroy();
  const again = await exchange('metrics.test', '/ok/last', { version: '1.0' });
  assert.equal(again.response.status, 200);
  assert.equal(again.response.body.toString(), 'fine');
});

ctx.test('no response and no daemon output contained a secret', () => ctx.assertNoSecretsLeaked());
