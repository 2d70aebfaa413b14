// The fake Messages API (lib/fake_messages.mjs) frames its streams as the real API does: the official SDK's
// own streaming client, pointed at it, rebuilds the scripted message block for block (text from several
// deltas, thinking with its signature, tool_use input from JSON fragments) with the usage it reported; a
// wrong key is the SDK's AuthenticationError, a 529 an overloaded_error with status 529, and the fake's own
// answers (404 off its one route, 500 once the script is used up) are the API's error JSON.
//
// The SDK reaches the fake's test CA through a custom fetch (fetchTrusting: node's https with that CA),
// since node 20's global fetch takes no CA option.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';

import {
  fetchTrusting, httpError, message, startFakeMessages, stall, text, thinking, toolUse,
} from './lib/fake_messages.mjs';

const realKey = `sk-ant-api03-${crypto.randomBytes(24).toString('base64url')}`;
let fake = null;
let fetch = null;

before(async () => {
  fake = await startFakeMessages({ realKey });
  fetch = fetchTrusting(fake.caPem);
});

after(async () => {
  await fake?.close();
});

// This SDK sends its apiKey as Authorization: Bearer; the key goes in x-api-key too, which is what the
// fake (as the API for API keys) checks.
function sdk(apiKey = realKey) {
  return new Anthropic({
    apiKey, baseURL: fake.baseURL, fetch, maxRetries: 0, timeout: 10_000, defaultHeaders: { 'x-api-key': apiKey },
  });
}

const request = {
  model: 'claude-test-1', max_tokens: 1024, system: 'You are terse.',
  messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
};

test('the SDK\'s streaming client rebuilds a scripted message: thinking, text, tool_use, usage', async () => {
  const weather = toolUse('get_weather', { city: 'Paris', units: { scale: 'celsius', digits: [1, 2] } });
  const thought = thinking('The user wants the weather; call the tool.');
  fake.script(message([thought, text('Let me look that up for you, in a moment.'), weather], {
    usage: { input_tokens: 321, output_tokens: 45, cache_read_input_tokens: 7, cache_creation_input_tokens: 11 },
  }));
  const before = fake.requests.length;
  const stream = sdk().messages.stream(request);
  const deltas = [];
  stream.on('text', (delta) => deltas.push(delta));
  const final = await stream.finalMessage();

  assert.match(final.id, /^msg_[A-Za-z0-9]+$/);
  // parsed_output and stop_details are the SDK's own additions.
  const { parsed_output: parsed, stop_details: stopDetails, ...rest } = final;
  assert.deepEqual([parsed, stopDetails], [null, undefined]);
  assert.deepEqual({ ...rest, id: null }, {
    id: null, type: 'message', role: 'assistant', model: 'claude-test-1',
    content: [
      { type: 'thinking', thinking: 'The user wants the weather; call the tool.', signature: thought.signature },
      { type: 'text', text: 'Let me look that up for you, in a moment.' },
      { type: 'tool_use', id: weather.id, name: 'get_weather', input: { city: 'Paris', units: { scale: 'celsius', digits: [1, 2] } } },
    ],
    stop_reason: 'tool_use', stop_sequence: null,
    usage: { input_tokens: 321, output_tokens: 45, cache_read_input_tokens: 7, cache_creation_input_tokens: 11 },
  });
  assert.ok(deltas.length >= 2, `the text came in several deltas: ${JSON.stringify(deltas)}`);
  assert.equal(deltas.join(''), 'Let me look that up for you, in a moment.');

  assert.equal(fake.requests.length, before + 1);
  const seen = fake.requests.at(-1);
  assert.equal(seen.method, 'POST');
  assert.equal(seen.path, '/v1/messages');
  assert.equal(seen.headers['x-api-key'], realKey);
  assert.deepEqual(seen.body, { ...request, stream: true });
});

test('the stream is framed as the API frames it: event/data pairs, a ping, split deltas, message_delta usage', async () => {
  fake.script(message([text('one two three four five'), toolUse('bash', { command: 'ls' })], {
    usage: { input_tokens: 10, output_tokens: 4, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
  }));
  const res = await fetch(`${fake.baseURL}/v1/messages`, {
    method: 'POST', headers: { 'x-api-key': realKey, 'content-type': 'application/json' },
    body: JSON.stringify({ ...request, stream: true }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  assert.match(res.headers.get('request-id'), /^req_[A-Za-z0-9]+$/);
  const body = await res.text();
  assert.ok(body.endsWith('\n\n'), 'every event ends with a blank line');
  const events = body.slice(0, -2).split('\n\n').map((frame) => {
    const lines = frame.split('\n');
    assert.equal(lines.length, 2, `one event line and one data line: ${JSON.stringify(frame)}`);
    assert.ok(lines[0].startsWith('event: ') && lines[1].startsWith('data: '), frame);
    const data = JSON.parse(lines[1].slice('data: '.length));
    assert.equal(data.type, lines[0].slice('event: '.length), 'the event name is the data\'s type');
    return data;
  });
  assert.deepEqual(events.map((e) => e.type).filter((type) => type !== 'content_block_delta'), [
    'message_start', 'content_block_start', 'ping', 'content_block_stop',
    'content_block_start', 'content_block_stop', 'message_delta', 'message_stop',
  ]);
  assert.deepEqual(events[0].message.usage, { input_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 });
  assert.deepEqual(events[1].content_block, { type: 'text', text: '' });
  const textDeltas = events.filter((e) => e.delta?.type === 'text_delta');
  assert.ok(textDeltas.length >= 2, 'text in several deltas');
  const json = events.filter((e) => e.delta?.type === 'input_json_delta').map((e) => e.delta.partial_json);
  assert.ok(json.filter((piece) => piece.length > 0).length >= 2, `input JSON in two pieces at least: ${JSON.stringify(json)}`);
  assert.equal(json.join(''), '{"command":"ls"}');
  const toolStart = events.find((e) => e.type === 'content_block_start' && e.index === 1);
  assert.deepEqual({ ...toolStart.content_block, id: null }, { type: 'tool_use', id: null, name: 'bash', input: {} });
  assert.deepEqual(events.at(-2), {
    type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 4 },
  });
});

test('a wrong key is a 401 authentication_error: the SDK\'s AuthenticationError; no script entry is used', async () => {
  fake.script(message([text('never sent')]));
  const pending = fake.pending;
  await assert.rejects(sdk('sk-ant-wrong').messages.stream(request).finalMessage(), (err) => {
    assert.ok(err instanceof Anthropic.AuthenticationError, `${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, 401);
    assert.deepEqual({ ...err.error, request_id: null },
      { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' }, request_id: null });
    assert.match(err.error.request_id, /^req_/);
    assert.equal(err.requestID, err.error.request_id);
    return true;
  });
  assert.equal(fake.pending, pending);
  fake.entries.length = 0;
});

test('a scripted 529 is an overloaded_error with status 529 and the headers given; a 429 a rate_limit_error', async () => {
  fake.script(httpError(529, undefined, 'Overloaded', { 'retry-after': '0' }), httpError(429, undefined, 'Slow down'));
  await assert.rejects(sdk().messages.stream(request).finalMessage(), (err) => {
    assert.ok(err instanceof Anthropic.APIError, `${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, 529);
    assert.equal(err.headers.get('retry-after'), '0');
    assert.equal(err.headers.get('content-type'), 'application/json');
    assert.deepEqual(err.error.error, { type: 'overloaded_error', message: 'Overloaded' });
    return true;
  });
  await assert.rejects(sdk().messages.create(request), (err) => {
    assert.ok(err instanceof Anthropic.RateLimitError, `${err?.constructor?.name}: ${err?.message}`);
    assert.deepEqual(err.error.error, { type: 'rate_limit_error', message: 'Slow down' });
    return true;
  });
});

test('a stall sends the start of a message and holds the connection until the client goes away', async () => {
  const [held] = fake.script(stall('partial ans'));
  const controller = new AbortController();
  const stream = sdk().messages.stream(request, { signal: controller.signal });
  const deltas = [];
  stream.on('text', (delta) => deltas.push(delta));
  const final = stream.finalMessage().then(() => 'finished', (err) => err);
  await held.started;
  await new Promise((resolve) => {
    const check = () => (deltas.length ? resolve() : setImmediate(check));
    check();
  });
  assert.deepEqual(deltas, ['partial ans']);
  controller.abort();
  await held.disconnected;
  const outcome = await final;
  assert.ok(outcome instanceof Anthropic.AnthropicError, `the stream ended with an error: ${outcome}`);
});

test('off its one route the fake answers 404, and with no script entry left 500, in the API\'s error JSON', async () => {
  const notFound = await fetch(`${fake.baseURL}/v1/models`, { headers: { 'x-api-key': realKey } });
  assert.equal(notFound.status, 404);
  assert.equal(notFound.headers.get('content-type'), 'application/json');
  const body = await notFound.json();
  assert.equal(body.type, 'error');
  assert.equal(body.error.type, 'not_found_error');
  assert.equal(body.request_id, notFound.headers.get('request-id'));

  assert.equal(fake.pending, 0);
  await assert.rejects(sdk().messages.create(request), (err) => {
    assert.ok(err instanceof Anthropic.InternalServerError, `${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.error.error.type, 'api_error');
    assert.match(err.error.error.message, /no script entry left/);
    return true;
  });
});
