// A sandbox client that goes away in the middle of an exchange, through a real daemon: cut during an
// upload (the request head and part of a Content-Length body sent), during a response that is still
// streaming, right after the CONNECT's 200, and in the middle of the TLS handshake; by a close (FIN) and
// by a reset (RST). The proxy must drop the upstream connection each time (the origin sees it closed),
// free the client connection (the daemon's open descriptors come back to where they were, after a few
// hundred cuts; the session's connection limit is never hit) and keep serving.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { makeOriginCertificates } from './lib/origin.mjs';
import { makeTempDir } from './lib/daemon.mjs';
import { useDaemon } from './lib/harness.mjs';
import {
  chunk, connectThroughProxy, faultOrigin, openFds, parseResponse, readUntil, response, tlsThroughProxy, waitUntil, metricsSession,
} from './lib/faults.mjs';

const certDir = makeTempDir('airlock-faults-origin-');
const certificates = makeOriginCertificates(certDir, ['plain.test']);
process.on('exit', () => fs.rmSync(certDir, { recursive: true, force: true }));

const kRounds = 50;        // of each of the six kinds of cut below: 300 in all
const kParallel = 6;
const kPiece = 'y'.repeat(16 * 1024);

const origin = await faultOrigin(certificates, (request, conn) => {
  if (request.path.startsWith('/stream')) {
    // Streams until the proxy closes the connection.
    conn.write(response(200, '', { 'Content-Length': null, 'Transfer-Encoding': 'chunked' }));
    const timer = setInterval(() => conn.write(chunk(kPiece)), 5);
    conn.closed.then(() => clearInterval(timer));
    return;
  }
  // Whole answers close their connection, so that no upstream connection stays pooled.
  conn.write(response(200, 'fine', { Connection: 'close' }));
  conn.end();
});

const ctx = useDaemon({
  args: ['--upstream-ca', certificates.ca, '--resolve', 'plain.test:127.0.0.1', '--allow-private', '127.0.0.1/32'],
});

let env;
let session;
let ca;
let baseline;
let peak = 0;  // the most descriptors seen while a download streamed

async function ok(target) {
  const { secure } = await tlsThroughProxy(env, 'plain.test', origin.port, { ca });
  secure.write(`GET ${target} HTTP/1.1\r\nHost: plain.test:${origin.port}\r\n\r\n`);
  const read = await readUntil(secure, (buffer) => parseResponse(buffer).complete);
  secure.destroy();
  return parseResponse(read.data);
}

// Waits until the origin has no connection open and (once the baseline is known) the daemon holds no
// more descriptors than it did then; returns the daemon's descriptor count.
async function settled() {
  await waitUntil(() => origin.openConnections() === 0, { what: 'the origin to see every upstream connection closed' });
  if (baseline === undefined) return openFds(ctx.daemon.pid);
  try {
    await waitUntil(() => openFds(ctx.daemon.pid) <= baseline, { what: 'the daemon to close its descriptors' });
  } catch {
    // Reported by the caller, with the count.
  }
  return openFds(ctx.daemon.pid);
}

ctx.test('setup: a session, one whole exchange, and the daemon\'s descriptors once it settled', async () => {
  ({ session, env, ca } = await metricsSession(ctx));
  const first = await ok('/warm-up');
  assert.equal(first.status, 200);
  assert.equal(first.body.toString(), 'fine');
  baseline = await settled();
});

// Runs `cut(i)` kRounds times, kParallel at a time.
async function rounds(cut) {
  let next = 0;
  await Promise.all(Array.from({ length: kParallel }, async () => {
    while (next < kRounds) await cut(next++);
  }));
}

const end = (socket, how) => (how === 'reset' ? socket.resetAndDestroy() : socket.destroy());

const kinds = {
  // The request head and 32 KiB of a 1 MiB body, then gone.
  async upload(i, how) {
    const { secure, raw } = await tlsThroughProxy(env, 'plain.test', origin.port, { ca });
    secure.write(`POST /upload/${i} HTTP/1.1\r\nHost: plain.test:${origin.port}\r\nContent-Length: 1048576\r\n\r\n`);
    secure.write(kPiece + kPiece);
    await waitUntil(() => origin.heads.has(`/upload/${i}`), { what: 'the upload to reach the origin' });
    end(raw, how);
  },
  // 64 KiB of a response that never ends, then gone.
  async download(i, how) {
    const { secure, raw } = await tlsThroughProxy(env, 'plain.test', origin.port, { ca });
    secure.write(`GET /stream/${i} HTTP/1.1\r\nHost: plain.test:${origin.port}\r\n\r\n`);
    const read = await readUntil(secure, (buffer) => buffer.length >= 64 * 1024);
    assert.equal(read.ended, 'done');
    assert.match(read.data.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/);
    peak = Math.max(peak, openFds(ctx.daemon.pid));  // the client's and the upstream's sockets are open now
    end(raw, how);
  },
  // Gone right after the CONNECT's 200.
  async tunnel(i, how) {
    const { socket, head } = await connectThroughProxy(env, `plain.test:${origin.port}`);
    assert.equal(head, 'HTTP/1.1 200 Connection Established\r\n\r\n');
    end(socket, how);
  },
  // Gone in the middle of a TLS ClientHello.
  async handshake(i, how) {
    const { socket, head } = await connectThroughProxy(env, `plain.test:${origin.port}`);
    assert.equal(head, 'HTTP/1.1 200 Connection Established\r\n\r\n');
    socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]));
    end(socket, how);
  },
};

for (const [kind, how] of [['upload', 'fin'], ['upload', 'reset'], ['download', 'fin'], ['download', 'reset'],
                           ['tunnel', 'reset'], ['handshake', 'fin']]) {
  ctx.test(`${kRounds} clients gone during ${kind} (${how}): every upstream dropped, no descriptor kept`, async () => {
    const opened = origin.stats.opened;
    await rounds((i) => kinds[kind](`${how}-${i}`, how));
    const after = await settled();
    assert.ok(after <= baseline, `the daemon holds ${after} descriptors, ${baseline} before ${kRounds} cut ${kind}s`);
    if (kind === 'upload' || kind === 'download') {
      assert.equal(origin.stats.opened - opened, kRounds, 'one upstream connection per exchange');
    }
    if (kind === 'download') assert.ok(peak >= baseline + 2, `the descriptor count moved: ${baseline} → ${peak}`);
  });
}

ctx.test('the cut uploads never reached the origin whole, and each is audited as client_closed', async () => {
  const uploads = origin.cut.filter((c) => c.path.startsWith('/upload/'));
  assert.equal(uploads.length, 2 * kRounds);
  for (const upload of uploads) assert.ok(upload.received < 1048576, JSON.stringify(upload));
  assert.equal(origin.requests.filter((r) => r.path.startsWith('/upload/')).length, 0);
  const rows = await waitUntil(async () => {
    const { json } = await ctx.raw('GET', `/v1/sessions/${session.id}/egress?limit=1000`);
    const found = json.data.filter((row) => row.path.startsWith('/upload/'));
    return found.length === 2 * kRounds && found;
  }, { what: 'an audit row for every cut upload' });
  for (const row of rows) {
    assert.equal(row.method, 'POST');
    assert.equal(row.decision, 'error', JSON.stringify(row));
    assert.equal(row.reason, 'client_closed', JSON.stringify(row));
  }
});

ctx.test('after every cut, the proxy still serves, and the session was never refused for its connection limit', async () => {
  const again = await ok('/after');
  assert.equal(again.status, 200);
  assert.equal(again.body.toString(), 'fine');
  const { json } = await ctx.raw('GET', `/v1/sessions/${session.id}/egress?limit=1000`);
  assert.deepEqual(json.data.filter((row) => row.decision === 'denied'), []);
  const after = await settled();
  assert.ok(after <= baseline, `the daemon holds ${after} descriptors, ${baseline} at the start`);
});

ctx.test('no response and no daemon output contained a secret', () => ctx.assertNoSecretsLeaked());
