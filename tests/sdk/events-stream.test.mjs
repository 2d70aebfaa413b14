// The session event stream (API.md §6 S9, framing §7.6) through the official SDK: the stream() promise
// resolves before any event exists (headers are sent at once), the stream yields exactly the events sent
// after it opened (same ids, types and content as the send response; none from before it opened; ping
// frames never reach the caller), deleting the session ends the iteration after a session.deleted event,
// an archived session can be streamed, an unknown one is a NotFoundError. Raw HTTP: the SSE head and the
// exact first bytes. And a daemon with an open stream exits 0 on SIGTERM at once, without the 5 s drain.
//
// Streams use a client on the plain fetch: the suite's recording fetch reads every response to its end,
// which a stream never reaches.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';

import { Anthropic, assertId, assertTimestamp, expectApiError, useDaemon } from './lib/harness.mjs';
import { makeTempDir, randomApiKey, start } from './lib/daemon.mjs';

const ctx = useDaemon();
const test = ctx.test;

const notFound = { cls: Anthropic.NotFoundError, status: 404, type: 'not_found_error' };
const kPing = 'event: ping\ndata: {"type":"ping"}\n\n';
const kGuardMs = 15_000;

let agent;
let environment;

const streaming = () => ctx.makeClient({ fetch: globalThis.fetch });

function userMessage(text) {
  return { type: 'user.message', content: [{ type: 'text', text }] };
}

async function newSession(client = ctx.client, options = {}) {
  return client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, ...options });
}

// iterator.next(), failing the test instead of hanging it when nothing arrives.
async function next(iterator, what) {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no stream item within ${kGuardMs} ms: ${what}`)), kGuardMs);
  });
  try {
    return await Promise.race([iterator.next(), guard]);
  } finally {
    clearTimeout(timer);
  }
}

function assertDeletedEvent(event) {
  assert.equal(event.type, 'session.deleted');
  assertId(event.id, 'sevt');
  assertTimestamp(event.processed_at, 'session.deleted processed_at');
}

test('setup: an agent and an environment', async () => {
  agent = await ctx.client.beta.agents.create({ name: 'Stream bot', model: 'claude-opus-5-5' });
  environment = await ctx.client.beta.environments.create({ name: 'streams' });
});

test('stream(): resolves before any event, then yields exactly the events sent after it opened', async () => {
  const session = await newSession(ctx.client, { initial_events: [userMessage('before the stream')] });
  const earlier = await ctx.client.beta.sessions.events.send(session.id, { events: [userMessage('also before')] });
  assert.equal(earlier.data.length, 1);

  // The promise resolves on the response head; no event exists yet that could carry it.
  const stream = await streaming().beta.sessions.events.stream(session.id);
  const iterator = stream[Symbol.asyncIterator]();

  const sent = await ctx.client.beta.sessions.events.send(session.id, {
    events: [userMessage('first'), userMessage('second')],
  });
  assert.equal(sent.data.length, 2);
  const first = await next(iterator, 'first event');
  const second = await next(iterator, 'second event');
  // The first frame on the wire is a ping: it is not yielded, and nothing from before the stream is.
  assert.deepEqual([first.value, second.value], sent.data);
  assert.deepEqual(first.value.content, [{ type: 'text', text: 'first' }]);
  assert.equal(second.value.type, 'user.message');

  // The list endpoint (API.md S7) returns the same objects.
  const listed = await ctx.client.beta.sessions.events.list(session.id, { limit: 10 });
  assert.deepEqual(listed.data.slice(-2), sent.data);

  await ctx.client.beta.sessions.delete(session.id);
  const deleted = await next(iterator, 'session.deleted');
  assert.equal(deleted.done, false);
  assertDeletedEvent(deleted.value);
  const end = await next(iterator, 'the end of the stream');
  assert.equal(end.done, true);
});

test('for await: deleting the session ends the iteration after session.deleted', async () => {
  const session = await newSession();
  const stream = await streaming().beta.sessions.events.stream(session.id, { event_deltas: ['agent.message'] });
  const seen = [];
  const consumed = (async () => {
    for await (const event of stream) seen.push(event);
  })();

  const sent = await ctx.client.beta.sessions.events.send(session.id, {
    events: [{ type: 'user.interrupt' }, { type: 'system.message', content: [{ type: 'text', text: 'note' }] }],
  });
  await ctx.client.beta.sessions.delete(session.id);
  await consumed;
  assert.deepEqual(seen.slice(0, 2), sent.data);
  assert.equal(seen.length, 3);
  assertDeletedEvent(seen[2]);
});

test('an archived session can be streamed; an unknown session is a NotFoundError', async () => {
  const session = await newSession();
  await ctx.client.beta.sessions.archive(session.id);
  const stream = await streaming().beta.sessions.events.stream(session.id);
  const iterator = stream[Symbol.asyncIterator]();
  await ctx.client.beta.sessions.delete(session.id);
  const deleted = await next(iterator, 'session.deleted');
  assertDeletedEvent(deleted.value);
  assert.equal((await next(iterator, 'the end')).done, true);

  await expectApiError(streaming().beta.sessions.events.stream('sesn_011CZkZAtmR3yMPDzynEDxu7'), notFound);
  await expectApiError(streaming().beta.sessions.events.stream(session.id), notFound);
});

// GET `path` on the daemon; resolves with the response once its head and at least `bytes` body bytes (or
// the end) arrived, then drops the connection.
function rawStream(path, bytes, headers = {}) {
  return new Promise((resolve, reject) => {
    const url = new URL(path, ctx.daemon.baseURL);
    const request = http.get(url, {
      headers: { authorization: `Bearer ${ctx.apiKey}`, accept: 'application/json', ...headers },
    }, (response) => {
      let body = '';
      const done = () => {
        clearTimeout(timer);
        request.destroy();
        resolve({ status: response.statusCode, headers: response.headers, body });
      };
      response.setEncoding('utf8');
      response.on('data', (chunk) => {
        body += chunk;
        if (body.length >= bytes) done();
      });
      response.on('end', done);
    });
    const timer = setTimeout(() => {
      request.destroy();
      reject(new Error(`no response within ${kGuardMs} ms`));
    }, kGuardMs);
    request.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

test('raw HTTP: text/event-stream, no Content-Length, and the first bytes are a ping frame', async () => {
  const session = await newSession();
  const res = await rawStream(`/v1/sessions/${session.id}/events/stream?event_deltas%5B%5D=agent.message`, kPing.length);
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'text/event-stream');
  assert.equal(res.headers['cache-control'], 'no-cache');
  assert.equal(res.headers.connection, 'close');
  assert.equal(res.headers['content-length'], undefined);
  assert.equal(res.headers['transfer-encoding'], undefined);
  assert.match(res.headers['request-id'] ?? '', /^req_/);
  assert.equal(res.body, kPing);

  const missing = await rawStream('/v1/sessions/sesn_011CZkZAtmR3yMPDzynEDxu7/events/stream', 1);
  assert.equal(missing.status, 404);
  assert.match(missing.headers['content-type'], /^application\/json/);
  assert.equal(JSON.parse(missing.body).error.type, 'not_found_error');
});

test('Last-Event-ID: a reconnecting client gets every event after the last one it saw, each frame with its id', async () => {
  const session = await newSession();
  const sent = (await ctx.client.beta.sessions.events.send(session.id, {
    events: [userMessage('one'), userMessage('two'), userMessage('three')],
  })).data;
  const frame = (event) => `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
  const expected = kPing + frame(sent[1]) + frame(sent[2]);
  const res = await rawStream(`/v1/sessions/${session.id}/events/stream`, expected.length, { 'last-event-id': sent[0].id });
  assert.equal(res.status, 200);
  assert.equal(res.body, expected);
  const fromLast = await rawStream(`/v1/sessions/${session.id}/events/stream`, kPing.length, { 'last-event-id': sent[2].id });
  assert.equal(fromLast.body, kPing);

  // An id the session does not have (another session's, or none at all) is refused, not guessed at.
  const other = await newSession();
  const [foreign] = (await ctx.client.beta.sessions.events.send(other.id, { events: [userMessage('elsewhere')] })).data;
  for (const id of [foreign.id, 'sevt_nope']) {
    const refused = await rawStream(`/v1/sessions/${session.id}/events/stream`, 1, { 'last-event-id': id });
    assert.equal(refused.status, 400);
    assert.equal(JSON.parse(refused.body).error.message,
      `Last-Event-ID: "${id}" is not an event of session ${session.id}; reconnect without it to follow new events only`);
  }
});

test('SIGTERM with a stream open: the stream ends and the daemon exits 0 at once', async () => {
  const dataDir = makeTempDir();
  const apiKey = randomApiKey();
  const daemon = await start({ dataDir, apiKey });
  try {
    const client = new Anthropic({ apiKey, baseURL: daemon.baseURL, timeout: 30_000 });
    const own = {
      agent: await client.beta.agents.create({ name: 'Stream bot', model: 'claude-opus-5-5' }),
      environment: await client.beta.environments.create({ name: 'streams' }),
    };
    const session = await client.beta.sessions.create({ agent: own.agent.id, environment_id: own.environment.id });
    const stream = await client.beta.sessions.events.stream(session.id);
    const seen = [];
    let failure = null;
    const consumed = (async () => {
      for await (const event of stream) seen.push(event);
    })().catch((err) => { failure = err; });

    const started = Date.now();
    const status = await daemon.stop();  // throws if the daemon is still running 5 s after SIGTERM
    const elapsed = Date.now() - started;
    assert.deepEqual(status, { code: 0, signal: null });
    assert.ok(elapsed < 4_000, `the open stream held the shutdown for ${elapsed} ms`);
    await consumed;
    assert.deepEqual(seen, []);
    // The connection closes: the iteration ends, cleanly or with a connection error, but it ends.
    if (failure) assert.ok(failure instanceof Error);
  } finally {
    await daemon.kill();  // a no-op once it has exited
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('every recorded (non-stream) response was well-formed', () => {
  ctx.assertResponsesWellFormed();
});
