// Shared by the load test (load.mjs) and the audit bench (audit.mjs): the local HTTPS origin (cluster
// workers of the calling script: it must call runOriginWorker() when cluster.isWorker), the API helper, the
// intercepted keep-alive client connection, and the vault, credential and sessions both set up.
import cluster from 'node:cluster';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import tls from 'node:tls';

export const kHost = 'load.test';
export const kSecretName = 'LOAD_API_TOKEN';
export const kMismatchHeader = 'x-load-mismatch';
const kBodyPad = 512;              // origin response body size (bytes, before the echoed header)
const kRequestTimeoutMs = 30_000;  // a response slower than this counts as a timeout

export const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- origin (cluster worker) ----------------------------------------------------------------------------

// Answers every request 200 with `ok <authorization or ->` padded to kBodyPad bytes. Requests under /a/ must
// carry `Authorization: Bearer <secret>`, requests under /p/ no Authorization at all, and no header may hold
// a placeholder; anything else is a mismatch: counted, answered 400 with x-load-mismatch.
export function runOriginWorker() {
  const secret = process.env.LOAD_SECRET;
  const stats = { requests: 0, mismatches: 0, samples: [], connections: 0, open: 0, maxOpen: 0, unfinishedHandshakes: 0 };
  const lag = monitorEventLoopDelay({ resolution: 20 });
  lag.enable();
  const pad = 'x'.repeat(kBodyPad);
  const server = https.createServer({
    key: fs.readFileSync(process.env.LOAD_ORIGIN_KEY),
    cert: fs.readFileSync(process.env.LOAD_ORIGIN_CERT),
    keepAliveTimeout: 0,  // keep idle keep-alive connections: the proxy decides when they close
    requestTimeout: 0,
    headersTimeout: 0,
  }, (req, res) => {
    stats.requests += 1;
    const auth = req.headers.authorization;
    let problem = null;
    if (req.url.startsWith('/a/')) {
      if (auth !== `Bearer ${secret}`) problem = `${req.url}: authorization ${auth === undefined ? 'missing' : 'is not the secret'}`;
    } else if (req.url.startsWith('/p/')) {
      if (auth !== undefined) problem = `${req.url}: unexpected authorization`;
    } else {
      problem = `${req.url}: unexpected path`;
    }
    if (!problem && JSON.stringify(req.rawHeaders).includes('airlock_ph_')) problem = `${req.url}: a placeholder reached the origin`;
    req.resume();
    req.on('end', () => {
      if (problem) {
        stats.mismatches += 1;
        if (stats.samples.length < 5) stats.samples.push(problem);
        res.writeHead(400, { [kMismatchHeader]: '1', 'content-length': 9 });
        res.end('mismatch\n');
        return;
      }
      const body = `ok ${auth ?? '-'}\n${pad}`;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  const handshakes = [];  // ms from accept to the end of the TLS handshake (those that finish)
  server.on('connection', (socket) => {
    stats.connections += 1;
    stats.open += 1;
    stats.maxOpen = Math.max(stats.maxOpen, stats.open);
    socket.acceptedAt = performance.now();
    socket.on('close', () => {
      stats.open -= 1;
      if (!socket.secured) stats.unfinishedHandshakes += 1;
    });
  });
  server.on('secureConnection', (socket) => {
    const raw = socket._parent || socket;
    raw.secured = true;
    if (raw.acceptedAt !== undefined) handshakes.push(performance.now() - raw.acceptedAt);
  });
  server.on('tlsClientError', () => {});
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => process.send({ type: 'listening', port: server.address().port }));
  process.on('message', (message) => {
    if (message.type === 'stats') {
      const cpu = process.cpuUsage();
      const sorted = [...handshakes].sort((a, b) => a - b);
      stats.handshakeP99 = sorted.length ? sorted[Math.floor(sorted.length * 0.99)] : 0;
      stats.handshakeMax = sorted.length ? sorted.at(-1) : 0;
      process.send({ type: 'stats', stats: { ...stats, cpu: (cpu.user + cpu.system) / 1e6, lagP99: lag.percentile(99) / 1e6,
                                             lagMax: lag.max / 1e6 } });
    }
    if (message.type === 'close-idle') {
      server.closeIdleConnections();
      process.send({ type: 'closed-idle' });
    }
  });
}

// One API call on a fresh connection (agent: false), so no keep-alive connection to the API sits in the
// daemon's descriptor counts. Resolves {status, text}.
export function call(daemon, method, pathname, body) {
  const url = new URL(pathname, daemon.baseURL);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method, agent: false,
      headers: { 'x-api-key': daemon.apiKey, 'content-type': 'application/json', connection: 'close',
                 ...(payload ? { 'content-length': Buffer.byteLength(payload) } : {}) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

// call(), then its JSON body (null if it is not JSON); a status of 300 or more rejects.
export async function api(daemon, method, pathname, body) {
  const { status, text } = await call(daemon, method, pathname, body);
  if (status >= 300) throw new Error(`${method} ${pathname}: ${status} ${text.slice(0, 300)}`);
  try {
    return JSON.parse(text);
  } catch {
    return null;  // not JSON
  }
}

export async function startOrigin(workers, certificates, secret) {
  // Workers accept on the shared socket themselves: with the default round-robin this process (the busy
  // client) would accept every origin connection and hand it over, and the proxy's connects would time out.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ silent: false });
  const env = { LOAD_SECRET: secret, LOAD_ORIGIN_KEY: certificates.keyFile, LOAD_ORIGIN_CERT: certificates.certFile };
  const forked = [];
  let port = null;
  for (let i = 0; i < workers; i += 1) {
    const worker = cluster.fork(env);
    forked.push(worker);
    const listening = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('exit', (code) => reject(new Error(`origin worker exited (${code}) before listening`)));
    });
    port = listening.port;
  }
  const ask = (type, reply) => Promise.all(forked.map((worker) => new Promise((resolve) => {
    const onMessage = (message) => {
      if (message.type !== reply) return;
      worker.off('message', onMessage);
      resolve(message);
    };
    worker.on('message', onMessage);
    worker.send({ type });
  })));
  return {
    port,
    async stats() {
      const all = (await ask('stats', 'stats')).map((m) => m.stats);
      return {
        requests: all.reduce((n, s) => n + s.requests, 0),
        mismatches: all.reduce((n, s) => n + s.mismatches, 0),
        samples: all.flatMap((s) => s.samples),
        connections: all.reduce((n, s) => n + s.connections, 0),
        open: all.reduce((n, s) => n + s.open, 0),
        maxOpen: all.reduce((n, s) => n + s.maxOpen, 0),
        cpu: all.reduce((n, s) => n + s.cpu, 0),
        lagP99: Math.max(...all.map((s) => s.lagP99)),
        lagMax: Math.max(...all.map((s) => s.lagMax)),
        handshakeP99: Math.max(...all.map((s) => s.handshakeP99)),
        handshakeMax: Math.max(...all.map((s) => s.handshakeMax)),
        unfinishedHandshakes: all.reduce((n, s) => n + s.unfinishedHandshakes, 0),
      };
    },
    closeIdle: () => ask('close-idle', 'closed-idle'),
    stop() { for (const worker of forked) worker.process.kill('SIGTERM'); },
  };
}

// What both scripts start from, in `tmp`: a CA and a certificate for kHost, the origin's `workers` answering
// for a fresh `secret`, and the daemon's arguments (a config without the per-session rate limit, the
// origin's CA, kHost resolved to loopback and loopback allowed).
export async function prepareOrigin(tmp, workers, makeOriginCertificates, cleanups) {
  const originDir = path.join(tmp, 'origin');
  fs.mkdirSync(originDir);
  const certificates = makeOriginCertificates(originDir, [kHost]);
  certificates.keyFile = path.join(originDir, 'origin.key');
  certificates.certFile = path.join(originDir, 'origin.pem');
  const secret = `sk-load-${crypto.randomBytes(24).toString('base64url')}`;
  const origin = await startOrigin(workers, certificates, secret);
  cleanups.push(() => origin.stop());
  const config = path.join(tmp, 'airlock.yaml');
  // The load drives its sessions' traffic itself: no harness runs for them.
  fs.writeFileSync(config, 'proxy:\n  max_requests_per_second_per_session: 0\nruntime:\n  default_harness: none\n');
  const daemonArgs = ['--config', config, '--upstream-ca', certificates.ca, '--resolve', `${kHost}:127.0.0.1`,
                      '--allow-private', '127.0.0.1/32'];
  return { origin, secret, daemonArgs };
}

// ---- client connections ---------------------------------------------------------------------------------

export class ConnectionError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

// Reads one HTTP/1.1 response at a time from `buffer`: null while incomplete, else {status, headers, body,
// rest}. Handles Content-Length and chunked framing (the proxy may re-frame a redacted body).
export function parseResponse(buffer) {
  const headEnd = buffer.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const lines = buffer.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  const headers = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let at = headEnd + 4;
  if ((headers['transfer-encoding'] || '').toLowerCase().includes('chunked')) {
    const parts = [];
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n', at);
      if (lineEnd < 0) return null;
      const size = parseInt(buffer.subarray(at, lineEnd).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new ConnectionError('bad_response', 'bad chunk size');
      if (size === 0) {
        const end = buffer.indexOf('\r\n\r\n', lineEnd);
        if (end < 0) return null;
        return { status, headers, body: Buffer.concat(parts), rest: buffer.subarray(end + 4) };
      }
      if (buffer.length < lineEnd + 2 + size + 2) return null;
      parts.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  const length = status === 204 || status === 304 ? 0 : Number(headers['content-length'] ?? NaN);
  if (!Number.isFinite(length)) throw new ConnectionError('bad_response', `response ${status} without a length`);
  if (buffer.length < at + length) return null;
  return { status, headers, body: buffer.subarray(at, at + length), rest: buffer.subarray(at + length) };
}

// A CONNECT tunnel through the proxy with TLS to load.test inside it, and one request at a time on it.
export class Connection {
  constructor(id, session, proxy, originPort, secureContext) {
    Object.assign(this, { id, session, proxy, originPort, secureContext });
    this.socket = null;
    this.buffer = Buffer.alloc(0);
    this.pending = null;
    this.sent = 0;
  }

  open() {
    return new Promise((resolve, reject) => {
      const raw = net.connect(this.proxy.port, this.proxy.host);
      let settled = false;
      const fail = (kind, message) => {
        if (settled) return;
        settled = true;
        raw.destroy();
        reject(new ConnectionError(kind, message));
      };
      const timer = setTimeout(() => fail('connect_timeout', 'CONNECT + TLS took over 30 s'), kRequestTimeoutMs);
      raw.on('error', (error) => fail('connect_error', error.code || error.message));
      raw.on('close', () => fail('connect_error', 'closed during CONNECT'));
      let head = Buffer.alloc(0);
      const onData = (chunk) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        raw.off('data', onData);
        const status = Number(head.subarray(0, end).toString('latin1').split(' ')[1]);
        if (status !== 200) return fail(`connect_${status}`, head.toString('latin1').slice(0, 200));
        raw.removeAllListeners('close');
        raw.removeAllListeners('error');
        raw.on('error', () => {});
        const socket = tls.connect({ socket: raw, servername: kHost, secureContext: this.secureContext });
        socket.on('error', (error) => {
          if (!settled) return fail('tls_error', error.code || error.message);
          if (this.socket === socket) this.fail(new ConnectionError('socket_error', error.code || error.message));
        });
        socket.on('close', () => {
          if (!settled) return fail('tls_error', 'closed during the handshake');
          if (this.socket !== socket) return;  // closed by us (destroy(), close())
          this.socket = null;
          if (this.pending) {
            const now = performance.now();
            this.fail(new ConnectionError('closed_by_proxy', 'connection closed while a request was in flight ' +
              `(${(now - this.pending.sentAt).toFixed(0)} ms after it was written, ` +
              `${(this.pending.sentAt - this.lastResponseAt).toFixed(0)} ms after the previous response arrived, ` +
              `${this.buffer.length} response bytes received)`));
          }
          else this.onIdleClose?.();
        });
        socket.on('data', (data) => this.onData(data));
        socket.once('secureConnect', () => {
          clearTimeout(timer);
          settled = true;
          this.socket = socket;
          this.openedAt = Date.now();
          this.lastResponseAt = performance.now();
          this.buffer = Buffer.alloc(0);
          resolve();
        });
      };
      raw.on('data', onData);
      raw.on('connect', () => {
        raw.write(`CONNECT ${kHost}:${this.originPort} HTTP/1.1\r\nHost: ${kHost}:${this.originPort}\r\n` +
                  `Proxy-Authorization: Basic ${this.session.proxyAuth}\r\n\r\n`);
      });
    });
  }

  onData(data) {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, data]) : data;
    if (!this.pending) {
      this.fail(new ConnectionError('unexpected_bytes', 'bytes with no request in flight'));
      return;
    }
    let response;
    try {
      response = parseResponse(this.buffer);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (!response) return;
    this.buffer = response.rest;
    this.lastResponseAt = performance.now();
    const { resolve, timer } = this.pending;
    this.pending = null;
    clearTimeout(timer);
    resolve(response);
  }

  fail(error) {
    if (!this.pending) return;
    const { reject, timer } = this.pending;
    this.pending = null;
    clearTimeout(timer);
    reject(error);
  }

  request(withPlaceholder) {
    const n = this.sent++;
    const target = `/${withPlaceholder ? 'a' : 'p'}/${this.id}/${n}`;
    const auth = withPlaceholder ? `Authorization: Bearer ${this.session.placeholder}\r\n` : '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new ConnectionError('timeout', `no response within ${kRequestTimeoutMs} ms`));
        this.destroy();
      }, kRequestTimeoutMs);
      this.pending = { resolve, reject, timer, sentAt: performance.now() };
      this.socket.write(`GET ${target} HTTP/1.1\r\nHost: ${kHost}:${this.originPort}\r\nUser-Agent: airlock-load\r\n` +
                        `${auth}Accept: */*\r\n\r\n`);
    });
  }

  destroy() {
    if (this.socket) this.socket.destroy();
    this.socket = null;
  }

  // TLS close_notify then FIN; resolves once the socket closed (or after 5 s).
  close() {
    const socket = this.socket;
    this.socket = null;
    if (!socket) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => { socket.destroy(); resolve(); }, 5_000);
      socket.removeAllListeners('close');
      socket.once('close', () => { clearTimeout(timer); resolve(); });
      socket.end();
    });
  }
}

// ---- set-up ---------------------------------------------------------------------------------------------

// Through the API: a vault with one environment_variable credential (`secret`, limited to load.test), an
// environment, an agent and `count` sessions. Returns each session's id, placeholder and proxy identity, and
// a TLS context that trusts Airlock's CA only (the sandbox bundle is that plus the system roots).
export async function createSessions(daemon, count, secret) {
  const vault = await api(daemon, 'POST', '/v1/vaults', { display_name: 'load' });
  await api(daemon, 'POST', `/v1/vaults/${vault.id}/credentials`, {
    auth: { type: 'environment_variable', secret_name: kSecretName, secret_value: secret,
            networking: { type: 'limited', allowed_hosts: [kHost] } },
  });
  const environment = await api(daemon, 'POST', '/v1/environments', { name: 'load' });
  const agent = await api(daemon, 'POST', '/v1/agents', { name: 'load', model: 'claude-opus-5-5' });
  const sessions = [];
  for (let i = 0; i < count; i += 1) {
    const session = await api(daemon, 'POST', '/v1/sessions', { agent: agent.id, environment_id: environment.id, vault_ids: [vault.id] });
    const { env } = await api(daemon, 'GET', `/v1/sessions/${session.id}/sandbox_env`);
    const proxyUrl = new URL(env.HTTPS_PROXY);
    const placeholder = env[kSecretName];
    if (!/^airlock_ph_/.test(placeholder || '')) throw new Error(`sandbox_env of ${session.id} has no placeholder for ${kSecretName}`);
    sessions.push({
      id: session.id, placeholder,
      proxyAuth: Buffer.from(`${decodeURIComponent(proxyUrl.username)}:${decodeURIComponent(proxyUrl.password)}`).toString('base64'),
    });
  }
  const secureContext = tls.createSecureContext({ ca: fs.readFileSync(path.join(daemon.dataDir, 'ca.pem')) });
  return { sessions, secureContext };
}
