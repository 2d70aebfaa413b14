// A fake Anthropic Messages API for the tests of the built-in agent harness: an HTTPS server on 127.0.0.1
// whose certificate (for api.anthropic.com and metrics.test, signed by a test CA) the daemon trusts through
// --upstream-ca. It answers POST /v1/messages alone, with a 401 unless x-api-key is the real key, and
// otherwise with the next entry of a script the test writes (or, when the script is empty, the entry a
// `respond(body)` function given to the constructor picks): a streamed message, framed as the real API
// frames its server-sent events (or one JSON message when the request did not ask for a stream), an HTTP
// error in the API's error JSON, or a stall that sends the start of a message and holds the connection
// until the client goes away. Every request is kept.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';

import { makeOriginCertificates } from './origin.mjs';

const kAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

// An id as the API writes them: a prefix and 24 base-62 characters.
export function apiId(prefix) {
  const bytes = crypto.randomBytes(24);
  return `${prefix}_01${[...bytes].map((b) => kAlphabet[b % kAlphabet.length]).join('')}`;
}

// ---- script entries ----------------------------------------------------------------------------------

export function text(value) {
  return { type: 'text', text: value };
}

export function thinking(value, signature = `sig-${crypto.randomBytes(24).toString('base64')}`) {
  return { type: 'thinking', thinking: value, signature };
}

// The id is made now, so that a test can expect it in the tool_result the client sends back.
export function toolUse(name, input, id = apiId('toolu')) {
  return { type: 'tool_use', id, name, input };
}

const kZeroUsage = { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };

// A streamed message. `usage`: what message_start reports for input and cache, and message_delta for output.
export function message(content, { stopReason, usage = {}, model } = {}) {
  const stop = stopReason ?? (content.some((block) => block.type === 'tool_use') ? 'tool_use' : 'end_turn');
  return { kind: 'message', content, stopReason: stop, usage: { ...kZeroUsage, ...usage }, model };
}

// An HTTP error with the API's error body. 529 is overloaded_error, 429 rate_limit_error unless `type` says.
export function httpError(status, type, messageText, headers = {}) {
  const kind = type ?? ({ 529: 'overloaded_error', 429: 'rate_limit_error' }[status] ?? 'api_error');
  return { kind: 'error', status, type: kind, message: messageText, headers };
}

// message_start and part of a text block, then nothing until the client goes away. `started` resolves
// when the request has arrived and the partial stream is out, `disconnected` when the client has closed.
export function stall(partialText = 'Let me think about th') {
  const entry = { kind: 'stall', text: partialText };
  entry.started = new Promise((resolve) => { entry.markStarted = resolve; });
  entry.disconnected = new Promise((resolve) => { entry.markDisconnected = resolve; });
  return entry;
}

// ---- framing -----------------------------------------------------------------------------------------

function sse(event, data) {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

// `value` cut in `parts` pieces (at least one; pieces never split a UTF-16 surrogate pair).
function pieces(value, parts) {
  const chars = [...value];
  const size = Math.max(1, Math.ceil(chars.length / parts));
  const out = [];
  for (let i = 0; i < chars.length; i += size) out.push(chars.slice(i, i + size).join(''));
  return out.length ? out : [''];
}

function messageStart(id, model, usage) {
  return sse('message_start', {
    type: 'message_start',
    message: {
      id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null,
      usage: {
        input_tokens: usage.input_tokens, cache_creation_input_tokens: usage.cache_creation_input_tokens,
        cache_read_input_tokens: usage.cache_read_input_tokens, output_tokens: 1,
      },
    },
  });
}

// The events of one content block at `index`: start, deltas, stop.
function blockEvents(block, index) {
  const events = [];
  const delta = (d) => events.push(sse('content_block_delta', { type: 'content_block_delta', index, delta: d }));
  if (block.type === 'text') {
    events.push(sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }));
    for (const piece of pieces(block.text, 3)) delta({ type: 'text_delta', text: piece });
  } else if (block.type === 'thinking') {
    events.push(sse('content_block_start', {
      type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '' },
    }));
    for (const piece of pieces(block.thinking, 2)) delta({ type: 'thinking_delta', thinking: piece });
    delta({ type: 'signature_delta', signature: block.signature });
  } else if (block.type === 'tool_use') {
    events.push(sse('content_block_start', {
      type: 'content_block_start', index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} },
    }));
    const json = JSON.stringify(block.input);
    // The real API streams an empty piece first, then the JSON in fragments.
    delta({ type: 'input_json_delta', partial_json: '' });
    for (const piece of pieces(json, Math.max(2, Math.min(4, json.length)))) delta({ type: 'input_json_delta', partial_json: piece });
  } else {
    throw new Error(`fake_messages: unknown block type ${block.type}`);
  }
  events.push(sse('content_block_stop', { type: 'content_block_stop', index }));
  return events;
}

// ---- the server --------------------------------------------------------------------------------------

export class FakeMessages {
  // `realKey`: the only x-api-key accepted. `names`: the certificate's DNS names. `respond(body)`: the entry
  // for a request when the script is empty.
  constructor({ realKey, names = ['api.anthropic.com', 'metrics.test'], respond = null }) {
    this.realKey = realKey;
    this.respond = respond;
    this.names = names;
    this.dir = null;
    this.certificates = null;
    this.server = null;
    this.port = null;
    this.requests = [];   // {method, path, headers, body (parsed JSON or null), raw}
    this.entries = [];    // the script: each request to /v1/messages with the real key takes the first
    this.waiters = [];
  }

  async start() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-fake-messages-'));
    this.certificates = makeOriginCertificates(this.dir, this.names);
    this.server = https.createServer({ key: this.certificates.key, cert: this.certificates.cert },
      (req, res) => this.handle(req, res));
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = this.server.address().port;
    return this;
  }

  // The test CA's PEM file (for --upstream-ca) and its text.
  get ca() {
    return this.certificates.ca;
  }

  get caPem() {
    return fs.readFileSync(this.certificates.ca, 'utf8');
  }

  get baseURL() {
    return `https://127.0.0.1:${this.port}`;
  }

  // Appends entries to the script; returns them (a stall's promises are on its entry).
  script(...entries) {
    this.entries.push(...entries);
    return entries;
  }

  get pending() {
    return this.entries.length;
  }

  // Resolves with the requests once at least `count` have arrived.
  waitForRequests(count) {
    if (this.requests.length >= count) return Promise.resolve(this.requests.slice());
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  async close() {
    if (this.server) {
      this.server.closeAllConnections();
      await new Promise((resolve) => this.server.close(resolve));
      this.server = null;
    }
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }

  handle(req, res) {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body = null;
      try {
        body = raw.length ? JSON.parse(raw) : null;
      } catch {
        body = null;
      }
      const pathname = new URL(req.url, 'https://fake').pathname;
      this.requests.push({ method: req.method, path: req.url, headers: req.headers, body, raw });
      this.waiters = this.waiters.filter((w) => {
        if (this.requests.length < w.count) return true;
        w.resolve(this.requests.slice());
        return false;
      });
      if (req.method !== 'POST' || pathname !== '/v1/messages') {
        sendApiError(res, 404, 'not_found_error', `${req.method} ${pathname}: not found`);
      } else if (req.headers['x-api-key'] !== this.realKey) {
        sendApiError(res, 401, 'authentication_error', 'invalid x-api-key');
      } else if (this.entries.length === 0 && !this.respond) {
        sendApiError(res, 500, 'api_error', `fake_messages: no script entry left for request ${this.requests.length}`);
      } else {
        const entry = this.entries.length > 0 ? this.entries.shift() : this.respond(body);
        if (entry.kind === 'error') {
          sendApiError(res, entry.status, entry.type, entry.message, entry.headers);
        } else if (entry.kind === 'message' && body?.stream !== true) {
          sendMessage(res, entry, body?.model ?? 'claude-test-1');
        } else {
          streamMessage(res, entry, body?.model ?? 'claude-test-1').catch((err) => res.destroy(err));
        }
      }
    });
  }
}

// ---- responses, for this server and other fakes (examples/weekday-digest/fake-model.mjs) ---------------

// An HTTP error with the API's error JSON and a request-id.
export function sendApiError(res, status, type, messageText, headers = {}) {
  const requestId = apiId('req');
  const payload = JSON.stringify({ type: 'error', error: { type, message: messageText }, request_id: requestId });
  res.writeHead(status, {
    'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), 'request-id': requestId, ...headers,
  });
  res.end(payload);
}

// A message() entry whole, as the API answers a request without `stream: true`.
export function sendMessage(res, entry, requestModel) {
  const payload = JSON.stringify({
    id: apiId('msg'), type: 'message', role: 'assistant', model: entry.model ?? requestModel, content: entry.content,
    stop_reason: entry.stopReason, stop_sequence: null, usage: entry.usage,
  });
  res.writeHead(200, {
    'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), 'request-id': apiId('req'),
  });
  res.end(payload);
}

// A script entry (message() or stall()) as a streamed answer. Writes each event on its own, yielding between
// them, so that the client reads them in several reads.
export async function streamMessage(res, entry, requestModel) {
  res.writeHead(200, {
    'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': apiId('req'),
  });
  const write = async (chunk) => {
    if (!res.destroyed) res.write(chunk);
    await new Promise((resolve) => setImmediate(resolve));
  };
  const id = apiId('msg');
  if (entry.kind === 'stall') {
    res.on('close', () => entry.markDisconnected());
    await write(messageStart(id, requestModel, kZeroUsage));
    await write(sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }));
    await write(sse('ping', { type: 'ping' }));
    await write(sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: entry.text } }));
    entry.markStarted();
    // Held open until the client goes away, pinging as the real API keeps a slow stream alive: a proxy
    // between notices a client that hung up when it passes a ping on.
    const pings = setInterval(() => { if (!res.destroyed) res.write(sse('ping', { type: 'ping' })); }, 200);
    res.on('close', () => clearInterval(pings));
    return;
  }
  await write(messageStart(id, entry.model ?? requestModel, entry.usage));
  let pinged = false;
  for (const [index, block] of entry.content.entries()) {
    const events = blockEvents(block, index);
    for (const [i, event] of events.entries()) {
      await write(event);
      // As the real API does: one ping right after the first content_block_start.
      if (!pinged && i === 0) {
        pinged = true;
        await write(sse('ping', { type: 'ping' }));
      }
    }
  }
  if (!pinged) await write(sse('ping', { type: 'ping' }));
  await write(sse('message_delta', {
    type: 'message_delta', delta: { stop_reason: entry.stopReason, stop_sequence: null },
    usage: { output_tokens: entry.usage.output_tokens },
  }));
  await write(sse('message_stop', { type: 'message_stop' }));
  res.end();
}

// Starts a fake whose only accepted key is `realKey`.
export async function startFakeMessages(options) {
  return new FakeMessages(options).start();
}

// A fetch for clients outside the sandbox (the official SDK) that trusts `caPem`: node's https with that
// CA, its response body handed over as a web stream. (Node 20's global fetch takes no CA, and undici's
// Agent is not importable from it.)
export function fetchTrusting(caPem) {
  const agent = new https.Agent({ ca: caPem, keepAlive: false });
  return (url, init = {}) => new Promise((resolve, reject) => {
    const headers = {};
    new Headers(init.headers ?? {}).forEach((value, name) => { headers[name] = value; });
    const req = https.request(new URL(String(url)), { method: init.method ?? 'GET', headers, agent }, (res) => {
      const responseHeaders = new Headers();
      for (const [name, value] of Object.entries(res.headers)) {
        for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(name, v);
      }
      resolve(new Response(Readable.toWeb(res), { status: res.statusCode, headers: responseHeaders }));
    });
    const signal = init.signal;
    if (signal) {
      if (signal.aborted) req.destroy(signal.reason);
      signal.addEventListener('abort', () => req.destroy(signal.reason), { once: true });
    }
    req.on('error', reject);
    req.end(init.body ?? undefined);
  });
}
