// Fault injection for the faults-*.test.mjs files.
//
// - faultOrigin(): an HTTPS origin whose handlers write every byte themselves and choose how the
//   connection ends: TLS close_notify then FIN (end), FIN without close_notify (fin), or a TCP RST (reset).
//   It counts its connections and records request bodies that were cut before their end.
// - Raw clients through the proxy: a CONNECT tunnel (optionally TLS inside it, optionally capped at TLS 1.2
//   with the records it receives visible, to tell a close_notify from a bare close), an absolute-form
//   plain request, and readers that keep everything until the peer closes.
// - parseResponse(): one HTTP/1.1 response from raw bytes, saying whether its framing was complete.
// - openFds(pid), waitUntil(): the daemon's descriptors, and polling with a deadline instead of sleeps.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { after } from 'node:test';

export const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls `check` (sync or async) until it returns a truthy value, which is returned; fails after `timeoutMs`
// with `what` and the last value seen.
export async function waitUntil(check, { timeoutMs = 10_000, intervalMs = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await delay(intervalMs);
  }
}

// The number of open descriptors of process `pid`.
export function openFds(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

// ---- the origin -------------------------------------------------------------------------------------------

function parseHead(text) {
  const [requestLine, ...fields] = text.split('\r\n');
  const [method, target] = requestLine.split(' ');
  const headers = {};
  for (const field of fields) {
    const colon = field.indexOf(':');
    if (colon > 0) headers[field.slice(0, colon).trim().toLowerCase()] = field.slice(colon + 1).trim();
  }
  return { method, path: target, headers };
}

// Decodes as much of a chunked body as `buffer` holds: {body, done, rest}.
function dechunk(buffer) {
  const parts = [];
  let at = 0;
  for (;;) {
    const lineEnd = buffer.indexOf('\r\n', at);
    if (lineEnd < 0) return { body: Buffer.concat(parts), done: false };
    const size = parseInt(buffer.subarray(at, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return { body: Buffer.concat(parts), done: false, bad: true };
    if (size === 0) {
      const end = buffer.indexOf('\r\n\r\n', lineEnd);
      if (end < 0) return { body: Buffer.concat(parts), done: false };
      return { body: Buffer.concat(parts), done: true, rest: buffer.subarray(end + 4) };
    }
    if (buffer.length < lineEnd + 2 + size + 2) {
      parts.push(buffer.subarray(lineEnd + 2, Math.min(buffer.length, lineEnd + 2 + size)));
      return { body: Buffer.concat(parts), done: false };
    }
    parts.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

// An HTTPS origin (127.0.0.1, the certificates of makeOriginCertificates()). `handler(request, conn)` is
// called once a request is whole: request = {method, path, headers, body}; conn = {write(data),
// end() (close_notify, then FIN), fin() (FIN without close_notify), reset() (RST), stall() (nothing,
// ever), next() (read the next request on this connection), closed (a Promise)}. A handler that does
// none of end/fin/reset/stall/next leaves the connection open. Returns {port, stats, heads, cut, requests,
// openConnections(), close()}: stats.opened/closed count connections, stats.heads the request heads
// received and `heads` their paths; `cut` lists the requests whose body stopped before its end ({path,
// received}); `requests` every whole request. Closed after the test file.
export async function faultOrigin(certificates, handler) {
  const stats = { opened: 0, closed: 0, heads: 0 };
  const heads = new Set();
  const cut = [];
  const requests = [];
  const open = new Set();
  const server = net.createServer((raw) => {
    raw.on('error', () => {});
    const socket = new tls.TLSSocket(raw, { isServer: true, key: certificates.key, cert: certificates.cert });
    socket.on('error', () => {});
    stats.opened += 1;
    open.add(raw);
    let done;
    const closed = new Promise((resolve) => { done = resolve; });
    let ended = false;
    const finish = () => {
      if (ended) return;
      ended = true;
      open.delete(raw);
      stats.closed += 1;
      done();
    };
    raw.on('close', finish);
    socket.on('close', finish);

    let buffer = Buffer.alloc(0);
    let current = null;  // the head of the request being read: {method, path, headers}
    let reading = true;
    const conn = {
      closed,
      write: (data) => { if (!socket.destroyed) socket.write(data); },
      end: () => socket.end(),
      fin: () => raw.destroy(),
      reset: () => raw.resetAndDestroy(),
      stall: () => {},
      next: () => { reading = true; setImmediate(pump); },
    };
    const pump = () => {
      while (reading) {
        if (!current) {
          const end = buffer.indexOf('\r\n\r\n');
          if (end < 0) return;
          current = parseHead(buffer.subarray(0, end).toString('latin1'));
          buffer = buffer.subarray(end + 4);
          stats.heads += 1;
          heads.add(current.path);
        }
        let body;
        let rest;
        if (current.headers['transfer-encoding'] === 'chunked') {
          const decoded = dechunk(buffer);
          if (!decoded.done) return;
          body = decoded.body;
          rest = decoded.rest;
        } else {
          const length = Number(current.headers['content-length'] ?? 0);
          if (buffer.length < length) return;
          body = buffer.subarray(0, length);
          rest = buffer.subarray(length);
        }
        const request = { ...current, body };
        current = null;
        buffer = rest;
        reading = false;
        requests.push(request);
        handler(request, conn);
      }
    };
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      pump();
    });
    closed.then(() => {
      if (current) {
        const received = current.headers['transfer-encoding'] === 'chunked' ? dechunk(buffer).body.length : buffer.length;
        cut.push({ path: current.path, received });
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = {
    port: server.address().port,
    stats,
    heads,
    cut,
    requests,
    openConnections: () => open.size,
    close: () => {
      for (const raw of open) raw.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
  after(() => origin.close());
  return origin;
}

// A response head and body as one string (Content-Length unless `headers` says otherwise).
export function response(status, body, headers = {}) {
  const fields = { 'Content-Type': 'text/plain', 'Content-Length': String(Buffer.byteLength(body)), ...headers };
  const head = Object.entries(fields).filter(([, v]) => v !== null).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return `HTTP/1.1 ${status} ${status === 200 ? 'OK' : 'X'}\r\n${head}\r\n${body}`;
}

export function chunk(text) {
  return `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
}

// ---- clients through the proxy --------------------------------------------------------------------------

// The session's proxy address and Proxy-Authorization value, from sandbox_env's HTTPS_PROXY.
export function proxyOf(env) {
  const proxy = new URL(env.HTTPS_PROXY);
  return {
    host: proxy.hostname,
    port: Number(proxy.port),
    auth: `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`,
  };
}

export function connectTcp(host, port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

// Reads from `socket` until `done(buffer)` is true (then resolves, leaving the socket open and paused,
// so that a later readUntil() loses nothing) or the peer closes. Resolves {data, ended:
// 'done'|'end'|'close'|'error'|'timeout', error}.
export function readUntil(socket, done = () => false, { timeoutMs = 15_000 } = {}) {
  return new Promise((resolve) => {
    let data = Buffer.alloc(0);
    let settled = false;
    const finish = (ended, error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onClose);
      socket.off('error', onError);
      resolve({ data, ended, error });
    };
    const onData = (piece) => {
      data = Buffer.concat([data, piece]);
      if (done(data)) {
        socket.pause();
        finish('done');
      }
    };
    const onEnd = () => finish('end');
    const onClose = () => finish('close');
    const onError = (error) => finish('error', error);
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onClose);
    socket.on('error', onError);
    if (socket.destroyed) finish('close');
    else socket.resume();
  });
}

// A whole response head has arrived.
export const headDone = (buffer) => buffer.includes('\r\n\r\n');

// Sends CONNECT host:port with the session's credentials; resolves {socket, head} once the answer's head
// (and, for a refusal, its body) has arrived.
export async function connectThroughProxy(env, target) {
  const proxy = proxyOf(env);
  const socket = await connectTcp(proxy.host, proxy.port);
  socket.on('error', () => {});
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\nProxy-Authorization: ${proxy.auth}\r\n\r\n`);
  const { data } = await readUntil(socket, (buffer) => {
    const text = buffer.toString('latin1');
    if (text.startsWith('HTTP/1.1 200')) return text.includes('\r\n\r\n');
    return parseResponse(buffer).complete;
  });
  return { socket, head: data.toString('latin1') };
}

// A Duplex over `socket` that passes every byte on and hands each received piece to `tap` first, so
// that the TLS records the peer sends can be read while Node's TLS client consumes them.
function tappedStream(socket, tap) {
  const duplex = new Duplex({
    read() { socket.resume(); },
    write(piece, encoding, callback) { socket.write(piece, callback); },
    final(callback) { socket.end(); callback(); },
    destroy(error, callback) { socket.destroy(); callback(error); },
  });
  socket.on('data', (piece) => {
    tap(piece);
    if (!duplex.push(piece)) socket.pause();
  });
  socket.on('end', () => duplex.push(null));
  socket.on('close', () => duplex.destroy());
  socket.on('error', (error) => duplex.destroy(error));
  return duplex;
}

// TLS 1.2 record types in a byte stream: 21 (alert) after the last 23 (application data) is how a peer's
// close_notify looks on the wire (TLS 1.2 sends alerts under their own record type).
export function recordTypes(bytes) {
  const types = [];
  let at = 0;
  while (at + 5 <= bytes.length) {
    types.push(bytes[at]);
    at += 5 + bytes.readUInt16BE(at + 3);
  }
  return types;
}

// A CONNECT tunnel to host:port with TLS inside it, trusting `ca` (a PEM). With `tls12`, the TLS version
// is capped at 1.2 and `wire()` returns the raw bytes the proxy sent after the 200 (see recordTypes).
export async function tlsThroughProxy(env, host, port, { ca, tls12 = false } = {}) {
  const { socket, head } = await connectThroughProxy(env, `${host}:${port}`);
  if (!head.startsWith('HTTP/1.1 200')) throw new Error(`CONNECT refused: ${head}`);
  let wire = Buffer.alloc(0);
  const transport = tls12 ? tappedStream(socket, (piece) => { wire = Buffer.concat([wire, piece]); }) : socket;
  const secure = tls.connect({ socket: transport, servername: host, ca, ...(tls12 ? { maxVersion: 'TLSv1.2' } : {}) });
  secure.on('error', () => {});
  await new Promise((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
  return { secure, raw: socket, wire: () => wire };
}

// ---- responses -------------------------------------------------------------------------------------------

// Parses one HTTP/1.1 response from `buffer` (as sent for a request other than HEAD): {status,
// statusLine, headers (lowercased names), head (text), body (Buffer, de-chunked), complete (the framing
// said where the body ends and all of it arrived), framing: 'length'|'chunked'|'close'}. Without a
// whole head: {complete: false, status: null}.
export function parseResponse(buffer) {
  const end = buffer.indexOf('\r\n\r\n');
  if (end < 0) return { complete: false, status: null, body: Buffer.alloc(0) };
  const head = buffer.subarray(0, end).toString('latin1');
  const [statusLine, ...fields] = head.split('\r\n');
  const headers = {};
  for (const field of fields) {
    const colon = field.indexOf(':');
    headers[field.slice(0, colon).trim().toLowerCase()] = field.slice(colon + 1).trim();
  }
  const rest = buffer.subarray(end + 4);
  const status = Number(statusLine.split(' ')[1]);
  if (headers['transfer-encoding'] === 'chunked') {
    const decoded = dechunk(rest);
    return { status, statusLine, headers, head, body: decoded.body, complete: decoded.done, framing: 'chunked' };
  }
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    return { status, statusLine, headers, head, body: rest.subarray(0, length), complete: rest.length >= length, framing: 'length' };
  }
  return { status, statusLine, headers, head, body: rest, complete: false, framing: 'close' };
}

// A refusal of the proxy, byte for byte (refusal.cpp's render_refusal).
export function refusal(status, statusText, word, proxyStatus, body, extra = '') {
  return `HTTP/1.1 ${status} ${statusText}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
         `Proxy-Status: airlock; error=${proxyStatus}; details="${word}"\r\nX-Airlock-Refusal: ${word}\r\n${extra}` +
         `Connection: close\r\n\r\n${body}`;
}

// A session whose one credential (METRICS_API_TOKEN, a ctx.secret()) may go to metrics.test only, made
// through the API of a useDaemon() context; with its sandbox_env and the CA bundle its sandbox trusts.
export async function metricsSession(ctx) {
  const vault = await ctx.client.beta.vaults.create({ display_name: 'faults' });
  await ctx.client.beta.vaults.credentials.create(vault.id, {
    auth: { type: 'environment_variable', secret_name: 'METRICS_API_TOKEN', secret_value: ctx.secret('sk-faults'),
            networking: { type: 'limited', allowed_hosts: ['metrics.test'] } },
  });
  const environment = await ctx.client.beta.environments.create({ name: 'faults' });
  const agent = await ctx.client.beta.agents.create({ name: 'faults', model: 'claude-opus-5-5' });
  const session = await ctx.client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, vault_ids: [vault.id] });
  const { status, json } = await ctx.raw('GET', `/v1/sessions/${session.id}/sandbox_env`);
  assert.equal(status, 200);
  return { session, env: json.env, ca: fs.readFileSync(path.join(ctx.tmp, 'ca-bundle.pem')) };
}
