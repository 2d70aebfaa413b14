// Shared setup and assertions for the SDK conformance tests.
//
// useDaemon() registers before/after hooks that start one daemon per test file on a fresh temp data dir,
// and returns a context with the official client (new Anthropic({apiKey, baseURL})) wired to a recording
// fetch: every response the suite receives, through the SDK or through ctx.raw(), is kept so that the
// file can check, at its end, that no response ever carried a secret it sent (ctx.secret() makes and
// registers one). The after hook stops the daemon with SIGTERM and requires exit 0; when a test of the
// file failed, it prints the tail of the daemon's output and keeps the data dir. Then, for every file, it
// checks secret hygiene: no secret value the file sent to the credential routes (secret_value, token,
// access_token, refresh_token, client_secret, seen by the recorder), nor any ctx.secret(), appears in a
// response, in the daemon's output, or in any file of the data dir (the database holds them sealed only).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import crypto from 'node:crypto';
import net from 'node:net';
import { after, before, test as nodeTest } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';

import { makeTempDir, randomApiKey, start } from './daemon.mjs';

export { Anthropic, randomApiKey as randomKey };

// The fields of a credential's auth that hold secret values (API.md §4: write-only).
const kSecretFields = ['secret_value', 'token', 'access_token', 'refresh_token', 'client_secret'];
// Shorter values could turn up in binary files by chance; the API refuses them anyway (16 bytes at least).
const kMinTrackedSecret = 12;

// A fetch that forwards to the real one and records each exchange, and every secret value sent to the
// credential routes (sentSecrets).
export class Recorder {
  constructor() {
    this.exchanges = [];
    this.sentSecrets = new Set();
    this.fetch = async (url, init = {}) => {
      this.noteSecrets(String(url), init.body);
      const response = await globalThis.fetch(url, init);
      const text = await response.clone().text();
      this.exchanges.push({
        method: (init.method ?? 'GET').toUpperCase(),
        url: String(url),
        requestHeaders: new Headers(init.headers ?? {}),
        status: response.status,
        headers: response.headers,
        text,
      });
      return response;
    };
  }

  noteSecrets(url, body) {
    if (typeof body !== 'string' || !/\/v1\/vaults\/[^/]+\/credentials/.test(url)) return;
    let auth;
    try {
      auth = JSON.parse(body)?.auth;
    } catch {
      return;
    }
    for (const field of kSecretFields) {
      const value = auth?.[field];
      if (typeof value === 'string' && value.length >= kMinTrackedSecret) this.sentSecrets.add(value);
    }
  }

  get count() {
    return this.exchanges.length;
  }

  since(mark) {
    return this.exchanges.slice(mark);
  }
}

export function useDaemon({ env = {}, apiKey = randomApiKey(), args = [] } = {}) {
  const ctx = {
    tmp: null,
    daemon: null,
    client: null,
    rec: new Recorder(),
    secrets: new Set(),
    failed: false,
    apiKey,
  };

  ctx.makeClient = (options = {}) => new Anthropic({
    apiKey: ctx.apiKey,
    baseURL: ctx.daemon.baseURL,
    fetch: ctx.rec.fetch,
    timeout: 30_000,
    ...options,
  });

  // A fresh random secret that must never appear in a response.
  ctx.secret = (prefix = 'secret') => {
    const value = `${prefix}-${crypto.randomBytes(12).toString('hex')}`;
    ctx.secrets.add(value);
    return value;
  };

  // A request outside the SDK. `body` is JSON-encoded unless it is a string; `auth: false` sends no key.
  ctx.raw = (method, path, options = {}) => rawRequest(ctx, method, path, options);

  // node:test's test(), noting failures so that the after hook can print the daemon's output.
  ctx.test = (name, fn, options = {}) => nodeTest(name, options, async (t) => {
    try {
      await fn(t);
    } catch (err) {
      ctx.failed = true;
      throw err;
    }
  });

  ctx.assertNoSecretsLeaked = () => assertNoSecretsLeaked(ctx.rec, ctx.secrets, [ctx.daemon]);
  ctx.assertResponsesWellFormed = () => assertResponsesWellFormed(ctx.rec);

  before(async () => {
    ctx.tmp = makeTempDir();
    ctx.daemon = await start({ dataDir: ctx.tmp, apiKey: ctx.apiKey, env, args });
    ctx.client = ctx.makeClient();
  });

  after(async () => {
    if (!ctx.daemon) return;
    let status;
    let clean = false;
    try {
      status = await ctx.daemon.stop();
      assertSecretHygiene(ctx);
      clean = true;
    } finally {
      if (ctx.failed || !clean || !status || status.code !== 0) {
        process.stderr.write(`\n--- airlock output (tail), data dir ${ctx.tmp} ---\n${ctx.daemon.logTail(120)}\n`);
      } else {
        fs.rmSync(ctx.tmp, { recursive: true, force: true });
      }
    }
    assert.deepEqual(status, { code: 0, signal: null }, 'airlock must exit 0 on SIGTERM');
  });

  return ctx;
}

// Every secret the file sent or made: in no response, not in the daemon's output, in no file of the data dir.
function assertSecretHygiene(ctx) {
  const secrets = new Set([...ctx.secrets, ...ctx.rec.sentSecrets]);
  if (secrets.size === 0) return;
  assertNoSecretsInResponses(ctx.rec, secrets);
  const log = ctx.daemon.log();
  for (const secret of secrets) assert.ok(!log.includes(secret), 'the daemon\'s output contains a secret');
  assertNoSecretsInFiles(ctx.tmp, secrets);
}

// No regular file under `dir` (the data dir: database, WAL, CA, session workspaces, logs) holds any of
// `secrets` in plain text.
export function assertNoSecretsInFiles(dir, secrets) {
  const needles = [...secrets].map((secret) => Buffer.from(secret));
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = `${entry.parentPath ?? entry.path}/${entry.name}`;
    let bytes;
    try {
      bytes = fs.readFileSync(file);
    } catch {
      continue;  // gone meanwhile, or unreadable
    }
    for (const needle of needles) assert.ok(!bytes.includes(needle), `${file} holds a secret in plain text`);
  }
}

// For files that start, stop and restart daemons themselves (restarts, crashes, clock jumps): a test()
// that notes failures, and the list `daemons` to push each daemon onto. At the end every daemon still
// running is stopped (`stopWith` 'SIGTERM', or 'SIGKILL' for files that crash them anyway), and either
// each one's output tail is printed (a test failed: `dirs` are kept) or `dirs` are removed.
export function useDaemonSeries({ dirs = [], stopWith = 'SIGTERM', tailLines = 60 } = {}) {
  const series = { daemons: [], dirs, failed: false };
  series.test = (name, fn) => nodeTest(name, async (t) => {
    try {
      await fn(t);
    } catch (err) {
      series.failed = true;
      throw err;
    }
  });
  after(async () => {
    for (const daemon of series.daemons) {
      try {
        await (stopWith === 'SIGKILL' ? daemon.kill('SIGKILL') : daemon.stop());
      } catch {
        // already reported by the test that stopped it
      }
    }
    if (series.failed) {
      for (const daemon of series.daemons) {
        process.stderr.write(`\n--- airlock output (tail), data dir ${daemon.dataDir} ---\n${daemon.logTail(tailLines)}\n`);
      }
    } else {
      for (const dir of series.dirs) fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  return series;
}

export async function rawRequest(target, method, path, { body, headers = {}, auth = true } = {}) {
  const daemon = target.daemon ?? target;
  const h = new Headers(headers);
  if (auth === true && !h.has('authorization') && !h.has('x-api-key')) {
    h.set('authorization', `Bearer ${target.apiKey ?? daemon.apiKey}`);
  }
  let payload;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    if (!h.has('content-type')) h.set('content-type', 'application/json');
  }
  const fetcher = target.rec ? target.rec.fetch : globalThis.fetch;
  const response = await fetcher(`${daemon.baseURL}${path}`, { method, headers: h, body: payload });
  const text = await response.text();
  let json;
  try {
    json = text.length ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

// One HTTP/1.1 exchange written byte for byte on a fresh connection, for bytes fetch may normalise or
// refuse (percent-escapes of non-UTF-8 bytes in the target, a 0xff byte in a header value). `head` is the request
// line and headers without the final blank line, as a string whose characters are bytes (latin1);
// Connection: close is added. Resolves with {status, headers (names lowercased), text}, or with
// {status: null, raw} when the server closed the connection without a complete response.
export function rawSocketRequest(daemon, head, body = '') {
  const { hostname, port } = new URL(daemon.baseURL);
  const request = Buffer.concat([
    Buffer.from(`${head}\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`, 'latin1'),
    Buffer.from(body, 'utf8'),
  ]);
  return new Promise((resolve, reject) => {
    const chunks = [];
    const socket = net.connect({ host: hostname, port: Number(port) }, () => socket.write(request));
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const raw = Buffer.concat(chunks);
      const end = raw.indexOf('\r\n\r\n');
      if (end < 0) {
        resolve({ status: null, raw: raw.toString('latin1') });
        return;
      }
      const [statusLine, ...fields] = raw.subarray(0, end).toString('latin1').split('\r\n');
      const headers = {};
      for (const field of fields) {
        const colon = field.indexOf(':');
        headers[field.slice(0, colon).trim().toLowerCase()] = field.slice(colon + 1).trim();
      }
      const bodyBytes = raw.subarray(end + 4);
      if (headers['content-length'] !== undefined && Number(headers['content-length']) !== bodyBytes.length) {
        resolve({ status: null, raw: raw.toString('latin1') });
        return;
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, text: bodyBytes.toString('utf8') });
    });
  });
}

// No response body or header, and no daemon output, contains any of `secrets`.
export function assertNoSecretsLeaked(rec, secrets, daemons) {
  assert.ok(secrets.size > 0, 'the file registered no secret to look for');
  assert.ok(rec.count > 0, 'no response was recorded');
  assertNoSecretsInResponses(rec, secrets);
  for (const daemon of daemons) {
    const log = daemon.log();
    for (const secret of secrets) assert.ok(!log.includes(secret), 'the daemon\'s output contains a secret');
  }
}

function assertNoSecretsInResponses(rec, secrets) {
  for (const exchange of rec.exchanges) {
    for (const secret of secrets) {
      const where = `${exchange.method} ${exchange.url} → ${exchange.status}`;
      assert.ok(!exchange.text.includes(secret), `response body of ${where} contains a secret`);
      for (const [name, value] of exchange.headers) {
        assert.ok(!value.includes(secret), `response header ${name} of ${where} contains a secret`);
      }
    }
  }
}

// API.md §7.2: every API response the file received had a JSON content type, a JSON body and a
// request-id header, and no two responses shared a request id.
export function assertResponsesWellFormed(rec) {
  const seen = new Set();
  let checked = 0;
  for (const ex of rec.exchanges) {
    if (new URL(ex.url).pathname === '/healthz') continue;
    const where = `${ex.method} ${ex.url} → ${ex.status}`;
    assert.match(ex.headers.get('content-type') ?? '', /^application\/json\b/, `content-type of ${where}`);
    const id = ex.headers.get('request-id');
    assert.ok(id, `request-id of ${where}`);
    assert.ok(!seen.has(id), `request-id ${id} of ${where} is unique`);
    seen.add(id);
    assert.doesNotThrow(() => JSON.parse(ex.text), `body of ${where} is JSON`);
    checked += 1;
  }
  assert.ok(checked > 0, 'no response was recorded');
}

// ---- assertions ----------------------------------------------------------------------------------------

const kRfc3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function assertTimestamp(value, what = 'timestamp') {
  assert.equal(typeof value, 'string', `${what} must be a string, got ${JSON.stringify(value)}`);
  assert.match(value, kRfc3339, `${what} must be RFC 3339`);
  assert.ok(!Number.isNaN(Date.parse(value)), `${what} must parse`);
}

// An RFC 3339 instant as BigInt nanoseconds since the epoch, so that sub-millisecond ordering survives.
export function instantNs(value) {
  const m = kRfc3339.exec(value);
  assert.ok(m, `not RFC 3339: ${value}`);
  const seconds = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[8].toUpperCase()}`) / 1000;
  const fraction = (m[7] ?? '.').slice(1).padEnd(9, '0').slice(0, 9);
  return BigInt(seconds) * 1_000_000_000n + BigInt(fraction);
}

export function assertId(value, prefix) {
  assert.equal(typeof value, 'string', `id must be a string, got ${JSON.stringify(value)}`);
  assert.match(value, new RegExp(`^${prefix}_[A-Za-z0-9]+$`), `id ${value} must start with ${prefix}_`);
}

export function assertKeys(object, keys, what = 'object') {
  assert.deepEqual(Object.keys(object).sort(), [...keys].sort(), `keys of ${what}`);
}

// The response form of an environment_variable credential's injection_location: header and body exactly
// as expected; Airlock's extension key `url` (API.md §9) may be present, and is then false unless expected.
export function assertInjection(actual, expected) {
  const { url = false, ...rest } = expected;
  const { url: actualUrl, ...actualRest } = actual;
  assert.deepEqual(actualRest, rest, 'injection_location header/body');
  if (actualUrl !== undefined || url) assert.equal(actualUrl, url, 'injection_location.url');
}

// Expects `promise` to reject with an SDK error of class `cls`, the given status and error.type, a body of
// API.md §7.4's shape, and (when `path` is given) a message that starts with that JSON path and ": ".
export async function expectApiError(promise, { cls, status, type, path, pathPrefix, errorCode } = {}) {
  let err;
  try {
    const value = await promise;
    assert.fail(`expected ${cls?.name ?? 'an API error'} (${status}), got success: ${JSON.stringify(value)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  if (cls) assert.ok(err instanceof cls, `expected ${cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
  if (status !== undefined) assert.equal(err.status, status, `status (${err.message})`);
  if (type !== undefined) assert.equal(err.type, type, `error.type (${err.message})`);
  assertErrorBody(err.error, { requestId: err.requestID, type });
  if (path !== undefined) {
    assert.ok(err.apiMessage.startsWith(`${path}: `),
      `message must start with "${path}: ", got ${JSON.stringify(err.apiMessage)}`);
  }
  if (pathPrefix !== undefined) {
    assert.ok(err.apiMessage.startsWith(pathPrefix),
      `message must start with "${pathPrefix}", got ${JSON.stringify(err.apiMessage)}`);
  }
  if (errorCode !== undefined) assert.equal(err.errorCode, errorCode, `details.error_code (${err.message})`);
  return err;
}

export function assertErrorBody(body, { requestId, type } = {}) {
  assert.equal(typeof body, 'object', `error body must be JSON, got ${JSON.stringify(body)}`);
  assert.ok(body !== null);
  assertKeys(body, ['type', 'error', 'request_id'], 'error body');
  assert.equal(body.type, 'error');
  const errorKeys = Object.keys(body.error).sort();
  assert.ok(
    JSON.stringify(errorKeys) === JSON.stringify(['message', 'type'])
      || JSON.stringify(errorKeys) === JSON.stringify(['details', 'message', 'type']),
    `error object keys: ${errorKeys}`);
  assert.equal(typeof body.error.type, 'string');
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0, 'error message must not be empty');
  if (type !== undefined) assert.equal(body.error.type, type);
  assert.equal(typeof body.request_id, 'string');
  assert.ok(body.request_id.length > 0);
  if (requestId !== undefined) assert.equal(body.request_id, requestId, 'request_id in body equals the header');
}

// Checks a raw response against API.md §7.2/§7.4: JSON content type, a request-id header and, for an
// error, the error body with the given status and type.
export function assertRawError(res, status, type) {
  assert.equal(res.status, status, `status of ${res.text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/);
  const requestId = res.headers.get('request-id');
  assert.ok(requestId, 'request-id header');
  assertErrorBody(res.json, { requestId, type });
}

// Collects every item of an SDK auto-paginating list.
export async function collect(pagePromise) {
  const items = [];
  for await (const item of pagePromise) items.push(item);
  return items;
}

export function range(n) {
  return Array.from({ length: n }, (_, i) => i);
}

// Checks API.md §9's list order: newest first by created_at, ties broken by id (in one direction for
// the whole list).
export function assertNewestFirst(items, what = 'list') {
  let tieDirection = 0;
  for (let i = 1; i < items.length; i++) {
    const prev = instantNs(items[i - 1].created_at);
    const cur = instantNs(items[i].created_at);
    assert.ok(prev >= cur, `${what}: item ${i} (${items[i].created_at}) is newer than item ${i - 1} (${items[i - 1].created_at})`);
    if (prev === cur) {
      const direction = items[i - 1].id < items[i].id ? 1 : -1;
      if (tieDirection === 0) tieDirection = direction;
      assert.equal(direction, tieDirection, `${what}: ties on created_at must be ordered by id consistently`);
    }
  }
}

export function assertSameIds(actual, expected, what = 'ids') {
  assert.deepEqual(actual.map((x) => x.id ?? x).sort(), expected.map((x) => x.id ?? x).sort(), what);
}
