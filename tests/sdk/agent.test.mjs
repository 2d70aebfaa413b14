// The built-in agent harness (`airlock agent`) through the official SDK: a session whose environment names
// no harness, on a daemon with no runtime.default_harness, runs it in its sandbox, and it talks to a fake
// Messages API (lib/fake_messages.mjs) at api.anthropic.com through the proxy. The sandbox holds a
// placeholder for ANTHROPIC_API_KEY; the fake sees the real key on every request; no event, session field,
// response, daemon output or file holds it. Each test scripts the model's answers and checks the requests
// the agent sends (headers, body, the conversation so far) and the session's events: spans, messages, tool
// use (bash in /workspace, custom tools, confirmations), interrupts, retries, errors, turns, usage, and a
// deployment's run.
//
// Every test is skipped, with the reason, where bubblewrap cannot create its namespaces.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { after, before } from 'node:test';

import { httpError, message, stall, startFakeMessages, text, thinking, toolUse } from './lib/fake_messages.mjs';
import { Recorder, assertId, assertNoSecretsLeaked, assertTimestamp } from './lib/harness.mjs';
import { RuntimeDaemon, sandboxSuite, until, userMessage } from './lib/runtime.mjs';

const suite = sandboxSuite();
const { skipReason, test } = suite;
const rec = new Recorder();
const secrets = new Set();

const kModel = 'claude-test-1';
const kSystem = 'You are terse.';
const kBuiltinTools = ['bash', 'edit', 'glob', 'grep', 'read', 'web_fetch', 'write'];
const kPlaceholder = /^airlock_ph_[A-Za-z0-9]{40}$/;
const kEndStates = new Set(['exited', 'failed', 'out_of_memory', 'timed_out', 'stopped', 'lost']);
const weatherTool = {
  type: 'custom', name: 'get_weather', description: 'The current weather in a city.',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

let fake = null;
let rt = null;
let client = null;
let realKey = null;
let vault = null;
let environment = null;
const agents = new Map();

before(async () => {
  if (skipReason) return;
  realKey = `sk-ant-api03-${crypto.randomBytes(32).toString('base64url')}`;
  secrets.add(realKey);
  fake = await startFakeMessages({ realKey });
  rt = await new RuntimeDaemon({
    config: {
      runtime: {
        // Sessions wait for their next turn until archived; room for every test's.
        max_concurrent_sessions: 16,
        harnesses: { agent: { env: { ANTHROPIC_BASE_URL: `https://api.anthropic.com:${fake.port}` } } },
      },
    },
    originCa: fake.ca, rec, resolve: ['api.anthropic.com:127.0.0.1'],
  }).start();
  client = rt.client;
  vault = await client.beta.vaults.create({ display_name: 'model key' });
  // In headers only: with body substitution too (the default), the proxy would swap the placeholder in
  // any tool output the agent sends back to the model, and the model would see the key.
  await client.beta.vaults.credentials.create(vault.id, {
    auth: { type: 'environment_variable', secret_name: 'ANTHROPIC_API_KEY', secret_value: realKey,
            networking: { type: 'limited', allowed_hosts: ['api.anthropic.com'] }, injection_location: { header: true } },
  });
  // No airlock.harness: the built-in agent runs.
  environment = await client.beta.environments.create({ name: 'agent' });
});

after(async () => {
  if (skipReason) return;
  await fake?.close();
  if (!rt) return;
  let status = null;
  try {
    status = await rt.stop();
    assertNoSecretsLeaked(rec, secrets, rt.daemons);
    assertNoKeyInFiles(rt.dataDir);
  } finally {
    if (suite.failed || !status || status.code !== 0) {
      process.stderr.write(`\n${rt.logTails(150)}\n`);
    } else {
      fs.rmSync(rt.dataDir, { recursive: true, force: true });
    }
  }
  assert.deepEqual(status, { code: 0, signal: null }, 'airlock must exit 0 on SIGTERM');
});

// ---- helpers -----------------------------------------------------------------------------------------

// One agent per shape, made on first use.
async function agentOf(kind) {
  const shapes = {
    plain: { name: 'Plain', system: kSystem },
    bare: { name: 'No system prompt' },
    toolset: { name: 'Toolset', system: kSystem, tools: [{ type: 'agent_toolset_20260401' }] },
    custom: {
      name: 'Weather', system: kSystem,
      tools: [{ type: 'agent_toolset_20260401', configs: [{ name: 'web_fetch', enabled: false }] }, weatherTool],
    },
    asking: {
      name: 'Asks first', system: kSystem,
      tools: [{ type: 'agent_toolset_20260401', configs: [{ name: 'bash', permission_policy: { type: 'always_ask' } }] }],
    },
  };
  if (!agents.has(kind)) agents.set(kind, await client.beta.agents.create({ model: kModel, ...shapes[kind] }));
  return agents.get(kind);
}

// The fake's script is empty (a failed test may have left entries); returns the count of requests so far.
function begin() {
  fake.entries.length = 0;
  return fake.requests.length;
}

async function startSession(kind, { text: first = 'hi', withVault = true } = {}) {
  const agent = await agentOf(kind);
  return client.beta.sessions.create({
    agent: agent.id, environment_id: environment.id, ...(withVault ? { vault_ids: [vault.id] } : {}),
    initial_events: [userMessage(first)],
  });
}

function types(events) {
  return events.map((e) => e.type);
}

// The events, one line each, for failure messages.
function summary(events) {
  return events.map((e) => {
    const detail = e.content?.map((b) => b.text ?? b.type).join('|') ?? e.error?.message ?? e.stop_reason?.type ?? e.name ?? '';
    return `${e.type}${detail ? ` ${JSON.stringify(detail).slice(0, 200)}` : ''}`;
  }).join('\n');
}

// The session's events once `count` session.status_idle events are there (or it was terminated).
async function idleEvents(sessionId, count) {
  let last = [];
  try {
    return await until(`${count} session.status_idle event(s) of ${sessionId}`, async () => {
      last = await rt.events(sessionId);
      if (last.some((e) => e.type === 'session.status_terminated')) return last;
      return last.filter((e) => e.type === 'session.status_idle').length >= count ? last : null;
    });
  } catch (err) {
    const runtime = await rt.runtime(sessionId);
    err.message += `\n--- events ---\n${summary(last)}\n--- runtime ---\n${JSON.stringify(runtime)}`;
    throw err;
  }
}

// Sends `sent` to a session idle after the events `before`, and checks the turn it starts: the model's
// plain `answer`, then idle. Returns all the events.
async function nextTextTurn(sessionId, before, sent, answer) {
  await client.beta.sessions.events.send(sessionId, { events: [userMessage(sent)] });
  const idles = before.filter((e) => e.type === 'session.status_idle').length;
  const events = await idleEvents(sessionId, idles + 1);
  assertTypes(events, [
    ...types(before),
    'user.message', 'session.status_running', 'span.model_request_start', 'agent.message', 'span.model_request_end',
    'session.status_idle',
  ]);
  const n = before.length;
  assertAgentMessage(events[n + 3], answer);
  assertEndTurn(events[n + 5]);
  return events;
}

function assertTypes(events, expected) {
  assert.deepEqual(types(events), expected, `events:\n${summary(events)}`);
}

async function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// The requests the fake received since `mark`, exactly `count` of them, each a Messages request as the
// agent sends it, with the real key (the proxy's swap) in x-api-key.
function modelRequests(mark, count) {
  const seen = fake.requests.slice(mark);
  assert.equal(seen.length, count, `the fake received ${seen.length} request(s), expected ${count}`);
  for (const request of seen) {
    assert.equal(request.method, 'POST');
    assert.equal(request.path, '/v1/messages');
    assert.equal(request.headers['x-api-key'], realKey, 'the proxy put the real key in x-api-key');
    assert.equal(request.headers['anthropic-version'], '2023-06-01');
    assert.match(request.headers['content-type'] ?? '', /^application\/json\b/);
    assert.equal(request.headers.accept, 'text/event-stream');
    assert.ok(request.body, `a JSON body: ${request.raw}`);
    assert.equal(request.body.model, kModel);
    assert.equal(request.body.max_tokens, 8192);
    assert.equal(request.body.stream, true);
  }
  return seen.map((request) => request.body);
}

const said = (value) => ({ role: 'user', content: [{ type: 'text', text: value }] });

// The agent's tools as the model is offered them: names, and each built-in one well formed.
function offeredTools(body) {
  for (const tool of body.tools) {
    assert.deepEqual(Object.keys(tool).sort(), ['description', 'input_schema', 'name'], JSON.stringify(tool));
    assert.equal(typeof tool.description, 'string');
    assert.ok(tool.description.length > 0, `${tool.name} has a description`);
    assert.equal(tool.input_schema.type, 'object', `${tool.name}'s input_schema`);
  }
  return body.tools.map((tool) => tool.name).sort();
}

function assertSpanEnd(event, start, { isError = false, usage } = {}) {
  assert.equal(event.type, 'span.model_request_end');
  assertId(event.id, 'sevt');
  assert.equal(start.type, 'span.model_request_start');
  assert.equal(event.model_request_start_id, start.id);
  assert.equal(event.is_error, isError);
  if (usage) {
    assert.deepEqual(event.model_usage, {
      input_tokens: usage.input_tokens, output_tokens: usage.output_tokens,
      cache_creation_input_tokens: usage.cache_creation_input_tokens, cache_read_input_tokens: usage.cache_read_input_tokens,
    });
  }
}

function assertAgentMessage(event, value) {
  assert.equal(event.type, 'agent.message');
  assert.deepEqual(event.content, [{ type: 'text', text: value }]);
}

function assertEndTurn(event) {
  assert.equal(event.type, 'session.status_idle');
  assert.deepEqual(event.stop_reason, { type: 'end_turn' });
}

function toolResultText(event) {
  assert.equal(event.type, 'agent.tool_result');
  assert.equal(event.content.length, 1, JSON.stringify(event.content));
  assert.equal(event.content[0].type, 'text');
  return event.content[0].text;
}

async function placeholderOf(sessionId) {
  const res = await rt.raw('GET', `/v1/sessions/${sessionId}/sandbox_env`);
  assert.equal(res.status, 200, res.text);
  const placeholder = res.json.env.ANTHROPIC_API_KEY;
  assert.match(placeholder, kPlaceholder);
  return placeholder;
}

function workspaceFile(sessionId, name) {
  return path.join(rt.dataDir, 'sessions', sessionId, 'workspace', name);
}

// Every regular file under `dir` but a workspace volume's image (sparse, up to the workspace limit; its
// files are copied out of it when the sandbox ends) is free of the real key.
function assertNoKeyInFiles(dir) {
  const needle = Buffer.from(realKey);
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || entry.name.endsWith('.img')) continue;
    const file = path.join(entry.parentPath ?? entry.path, entry.name);
    let bytes;
    try {
      bytes = fs.readFileSync(file);
    } catch {
      continue;  // gone meanwhile
    }
    assert.ok(!bytes.includes(needle), `${file} holds the real key`);
  }
}

// Archives the session (its harness waits for the next turn until then), waits for its sandbox to end,
// and checks that the real key is in none of its events, its session object, its runtime description, or
// its files on the host.
async function finish(sessionId) {
  await client.beta.sessions.archive(sessionId);
  await until(`the sandbox of ${sessionId} to end`, async () => kEndStates.has((await rt.runtime(sessionId)).state));
  const events = await rt.events(sessionId);
  for (const event of events) {
    assert.ok(!JSON.stringify(event).includes(realKey), `event ${event.id} (${event.type}) holds the real key`);
  }
  assert.ok(!JSON.stringify(await client.beta.sessions.retrieve(sessionId)).includes(realKey), 'the session holds the real key');
  assert.ok(!JSON.stringify(await rt.runtime(sessionId)).includes(realKey), 'the runtime description holds the real key');
  assertNoKeyInFiles(path.join(rt.dataDir, 'sessions', sessionId));
}

// ---- a text answer -----------------------------------------------------------------------------------

test('a text answer: running, the model request span, agent.message, idle end_turn; the request as the API takes it', async () => {
  const mark = begin();
  const usage = { input_tokens: 42, output_tokens: 7, cache_read_input_tokens: 3, cache_creation_input_tokens: 5 };
  fake.script(message([text('Hello. What do you need?')], { usage }));
  const session = await startSession('plain');
  const events = await idleEvents(session.id, 1);
  assertTypes(events, [
    'user.message', 'session.status_running', 'span.model_request_start', 'agent.message', 'span.model_request_end',
    'session.status_idle',
  ]);
  const [, running, start, answer, end, idle] = events;
  for (const event of events) {
    assertId(event.id, 'sevt');
    assertTimestamp(event.processed_at, `${event.type} processed_at`);
  }
  assert.deepEqual(Object.keys(running).sort(), ['id', 'processed_at', 'type']);
  assert.deepEqual(Object.keys(start).sort(), ['id', 'processed_at', 'type']);
  assertAgentMessage(answer, 'Hello. What do you need?');
  assert.deepEqual(Object.keys(answer).sort(), ['content', 'id', 'processed_at', 'type']);
  assertSpanEnd(end, start, { usage });
  assertEndTurn(idle);
  assert.equal((await client.beta.sessions.retrieve(session.id)).status, 'idle');

  // The request: no tools (the agent has none), the system prompt, the user's text.
  const [body] = modelRequests(mark, 1);
  assert.deepEqual(body, { model: kModel, max_tokens: 8192, stream: true, system: kSystem, messages: [said('hi')] });
  assert.equal(fake.pending, 0);
  await finish(session.id);
});

test('two turns: thinking then text; the next user.message runs again with the conversation so far; no system prompt, none sent', async () => {
  const mark = begin();
  const thought = thinking('A greeting; answer briefly.');
  fake.script(message([thought, text('Hello!')]), message([text('Hello again!')]));
  const session = await startSession('bare');
  const first = await idleEvents(session.id, 1);
  assertTypes(first, [
    'user.message', 'session.status_running', 'span.model_request_start', 'agent.thinking', 'agent.message',
    'span.model_request_end', 'session.status_idle',
  ]);
  assert.deepEqual(Object.keys(first[3]).sort(), ['id', 'processed_at', 'type'], 'agent.thinking carries no content');
  assertAgentMessage(first[4], 'Hello!');
  assertEndTurn(first[6]);

  const events = await nextTextTurn(session.id, first, 'again', 'Hello again!');
  assertSpanEnd(events[11], events[9]);

  const [one, two] = modelRequests(mark, 2);
  assert.deepEqual(one, { model: kModel, max_tokens: 8192, stream: true, messages: [said('hi')] });
  assert.deepEqual(two, {
    model: kModel, max_tokens: 8192, stream: true,
    messages: [
      said('hi'),
      { role: 'assistant', content: [
        { type: 'thinking', thinking: 'A greeting; answer briefly.', signature: thought.signature },
        { type: 'text', text: 'Hello!' },
      ] },
      said('again'),
    ],
  });
  await finish(session.id);
});

// ---- tools -------------------------------------------------------------------------------------------

test('bash runs in /workspace with the placeholder; its output goes back to the model; usage adds up', async () => {
  const mark = begin();
  const command = 'echo made > note.txt && cat note.txt && printenv ANTHROPIC_API_KEY';
  const use = toolUse('bash', { command });
  const usage1 = { input_tokens: 100, output_tokens: 20, cache_read_input_tokens: 5, cache_creation_input_tokens: 7 };
  const usage2 = { input_tokens: 130, output_tokens: 9, cache_read_input_tokens: 50, cache_creation_input_tokens: 0 };
  fake.script(message([use], { usage: usage1 }), message([text('Wrote note.txt.')], { usage: usage2 }));
  const session = await startSession('toolset', { text: 'make a note' });
  const events = await idleEvents(session.id, 1);
  assertTypes(events, [
    'user.message', 'session.status_running',
    'span.model_request_start', 'agent.tool_use', 'span.model_request_end', 'agent.tool_result',
    'span.model_request_start', 'agent.message', 'span.model_request_end',
    'session.status_idle',
  ]);
  const [, , start1, toolUseEvent, end1, result, start2, answer, end2, idle] = events;
  assertId(toolUseEvent.id, 'sevt');
  assert.equal(toolUseEvent.name, 'bash');
  assert.deepEqual(toolUseEvent.input, { command });
  assert.equal(toolUseEvent.evaluated_permission, 'allow');
  assertSpanEnd(end1, start1, { usage: usage1 });
  assert.equal(result.tool_use_id, toolUseEvent.id);
  assert.equal(result.is_error, false);
  const output = toolResultText(result);
  const placeholder = await placeholderOf(session.id);
  assert.equal(output, `made\n${placeholder}\n`, 'the sandbox sees the placeholder, never the key');
  assertAgentMessage(answer, 'Wrote note.txt.');
  assertSpanEnd(end2, start2, { usage: usage2 });
  assertEndTurn(idle);

  // The file is in the session's workspace on the host.
  assert.equal(fs.readFileSync(workspaceFile(session.id, 'note.txt'), 'utf8'), 'made\n');

  const [one, two] = modelRequests(mark, 2);
  assert.deepEqual(offeredTools(one), kBuiltinTools, 'every built-in tool but web_search');
  assert.deepEqual(one.messages, [said('make a note')]);
  assert.equal(one.system, kSystem);
  assert.deepEqual(two.tools, one.tools);
  assert.deepEqual(two.messages, [
    said('make a note'),
    { role: 'assistant', content: [{ type: 'tool_use', id: use.id, name: 'bash', input: { command } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: [{ type: 'text', text: output }] }] },
  ]);

  const { usage } = await client.beta.sessions.retrieve(session.id);
  assert.equal(usage.input_tokens, usage1.input_tokens + usage2.input_tokens);
  assert.equal(usage.output_tokens, usage1.output_tokens + usage2.output_tokens);
  assert.equal(usage.cache_read_input_tokens, usage1.cache_read_input_tokens + usage2.cache_read_input_tokens);
  await finish(session.id);
});

test('an LLM vault: a static_bearer for the model API gives the agent its key as x-api-key; the sandbox holds none', async () => {
  const mark = begin();
  // The pattern of a deployment that shares one model-provider vault: no ANTHROPIC_API_KEY anywhere in the
  // sandbox, the proxy adds the key on the way to the model host.
  const llmVault = await client.beta.vaults.create({ display_name: 'llm' });
  await client.beta.vaults.credentials.create(llmVault.id, {
    auth: { type: 'static_bearer', mcp_server_url: `https://api.anthropic.com:${fake.port}`, token: realKey },
  });
  const metricsVault = await client.beta.vaults.create({ display_name: 'metrics' });
  const metricsToken = `mt-${crypto.randomBytes(24).toString('base64url')}`;
  secrets.add(metricsToken);
  await client.beta.vaults.credentials.create(metricsVault.id, {
    auth: { type: 'environment_variable', secret_name: 'METRICS_TOKEN', secret_value: metricsToken,
            networking: { type: 'limited', allowed_hosts: ['metrics.test'] } },
  });
  const command = 'printenv ANTHROPIC_API_KEY || echo no key here';
  fake.script(message([toolUse('bash', { command })]), message([text('Done.')]));
  const agent = await agentOf('toolset');
  const session = await client.beta.sessions.create({
    agent: agent.id, environment_id: environment.id, vault_ids: [llmVault.id, metricsVault.id],
    initial_events: [userMessage('check')],
  });
  const events = await idleEvents(session.id, 1);
  assertTypes(events, [
    'user.message', 'session.status_running',
    'span.model_request_start', 'agent.tool_use', 'span.model_request_end', 'agent.tool_result',
    'span.model_request_start', 'agent.message', 'span.model_request_end',
    'session.status_idle',
  ]);
  assert.equal(toolResultText(events[5]), 'no key here\n');
  assertAgentMessage(events[7], 'Done.');
  const [one] = modelRequests(mark, 2);  // each with x-api-key: the real key, which the proxy set
  assert.deepEqual(one.messages, [said('check')]);
  for (const request of fake.requests.slice(mark)) assert.equal(request.headers.authorization, undefined);
  await finish(session.id);
  await client.beta.vaults.archive(llmVault.id);
  await client.beta.vaults.archive(metricsVault.id);
});

// A streamable-HTTP MCP server on metrics.test (the fake API's certificate covers it): one tool, `lookup`,
// for callers with its bearer token; tools/call answers as an event stream, the rest as JSON.
async function startFakeMcp(token) {
  const received = [];
  const server = https.createServer({ key: fake.certificates.key, cert: fake.certificates.cert }, (req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString() || 'null');
      received.push({ headers: req.headers, body });
      if (req.headers.authorization !== `Bearer ${token}`) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error":"unauthorized"}');
        return;
      }
      const answer = (result) => ({ jsonrpc: '2.0', id: body.id, result });
      if (body.method === 'notifications/initialized') {
        res.writeHead(202);
        res.end();
      } else if (body.method === 'initialize') {
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'mcp-session-1' });
        res.end(JSON.stringify(answer({ protocolVersion: '2025-06-18', capabilities: { tools: {} },
                                        serverInfo: { name: 'tracker', version: '1' } })));
      } else if (body.method === 'tools/list') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer({ tools: [{ name: 'lookup', description: 'Look an incident up.',
          inputSchema: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } }] })));
      } else if (body.method === 'tools/call') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`event: message\ndata: ${JSON.stringify(answer({
          content: [{ type: 'text', text: `found ${body.params.arguments.q}` }], isError: false }))}\n\n`);
        res.end();
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: body.id, error: { code: -32601, message: 'no such method' } }));
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port, received, close: () => new Promise((resolve) => server.close(resolve)) };
}

test('an MCP server through the proxy: its tools offered, agent.mcp_tool_use and agent.mcp_tool_result, its token added', async () => {
  const mark = begin();
  const mcpToken = `mcp-${crypto.randomBytes(24).toString('base64url')}`;
  secrets.add(mcpToken);
  const mcp = await startFakeMcp(mcpToken);
  try {
    const url = `https://metrics.test:${mcp.port}/mcp`;
    const mcpVault = await client.beta.vaults.create({ display_name: 'tracker' });
    await client.beta.vaults.credentials.create(mcpVault.id, {
      auth: { type: 'static_bearer', mcp_server_url: url, token: mcpToken },
    });
    const agent = await client.beta.agents.create({
      model: kModel, name: 'Tracker', system: kSystem,
      mcp_servers: [{ name: 'tracker', type: 'url', url }],
      tools: [{ type: 'mcp_toolset', mcp_server_name: 'tracker' }],
    });
    const use = toolUse('lookup', { q: 'INC-7' });
    fake.script(message([use]), message([text('INC-7 is open.')]));
    const session = await client.beta.sessions.create({
      agent: agent.id, environment_id: environment.id, vault_ids: [vault.id, mcpVault.id],
      initial_events: [userMessage('what about INC-7?')],
    });
    const events = await idleEvents(session.id, 1);
    assertTypes(events, [
      'user.message', 'session.status_running',
      'span.model_request_start', 'agent.mcp_tool_use', 'span.model_request_end', 'agent.mcp_tool_result',
      'span.model_request_start', 'agent.message', 'span.model_request_end',
      'session.status_idle',
    ]);
    const [, , , mcpUse, , mcpResult] = events;
    assert.deepEqual({ ...mcpUse, id: undefined, processed_at: undefined }, {
      type: 'agent.mcp_tool_use', id: undefined, processed_at: undefined, name: 'lookup', mcp_server_name: 'tracker',
      input: { q: 'INC-7' }, evaluated_permission: 'allow',
    });
    assert.deepEqual({ ...mcpResult, id: undefined, processed_at: undefined }, {
      type: 'agent.mcp_tool_result', id: undefined, processed_at: undefined, mcp_tool_use_id: mcpUse.id,
      content: [{ type: 'text', text: 'found INC-7' }], is_error: false,
    });
    assertAgentMessage(events[7], 'INC-7 is open.');

    const [one, two] = modelRequests(mark, 2);
    assert.deepEqual(one.tools, [{ name: 'lookup', description: 'Look an incident up.',
      input_schema: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } }]);
    assert.deepEqual(two.messages.at(-1), { role: 'user', content: [
      { type: 'tool_result', tool_use_id: use.id, content: [{ type: 'text', text: 'found INC-7' }] }] });
    // The proxy added the server's token to every request; the session id came back after initialize.
    assert.deepEqual(mcp.received.map((r) => r.body.method),
      ['initialize', 'notifications/initialized', 'tools/list', 'tools/call']);
    for (const r of mcp.received) assert.equal(r.headers.authorization, `Bearer ${mcpToken}`);
    assert.deepEqual(mcp.received.map((r) => r.headers['mcp-session-id'] ?? null),
      [null, 'mcp-session-1', 'mcp-session-1', 'mcp-session-1']);
    await finish(session.id);
    await client.beta.vaults.archive(mcpVault.id);
  } finally {
    await mcp.close();
  }
});

test('a failing bash command: stdout and stderr together, "exit status N", is_error for the event and the model', async () => {
  const mark = begin();
  const use = toolUse('bash', { command: 'echo out; echo err >&2; exit 3' });
  fake.script(message([use]), message([text('It failed.')]));
  const session = await startSession('toolset', { text: 'try it' });
  const events = await idleEvents(session.id, 1);
  assertTypes(events, [
    'user.message', 'session.status_running',
    'span.model_request_start', 'agent.tool_use', 'span.model_request_end', 'agent.tool_result',
    'span.model_request_start', 'agent.message', 'span.model_request_end',
    'session.status_idle',
  ]);
  const result = events[5];
  assert.equal(result.tool_use_id, events[3].id);
  assert.equal(result.is_error, true);
  const output = toolResultText(result);
  const lines = output.split('\n').filter((line) => line.length > 0);
  assert.ok(lines.includes('out') && lines.includes('err'), JSON.stringify(output));
  assert.equal(lines.at(-1), 'exit status 3');

  const [, two] = modelRequests(mark, 2);
  assert.deepEqual(two.messages.at(-1), {
    role: 'user',
    content: [{ type: 'tool_result', tool_use_id: use.id, content: [{ type: 'text', text: output }], is_error: true }],
  });
  await finish(session.id);
});

test('a custom tool: agent.custom_tool_use, idle requires_action; user.custom_tool_result runs the next request', async () => {
  const mark = begin();
  const use = toolUse('get_weather', { city: 'Paris' });
  fake.script(message([use]), message([text('It is sunny in Paris.')]));
  const session = await startSession('custom', { text: 'weather in Paris?' });
  const first = await idleEvents(session.id, 1);
  assertTypes(first, [
    'user.message', 'session.status_running', 'span.model_request_start', 'agent.custom_tool_use',
    'span.model_request_end', 'session.status_idle',
  ]);
  const custom = first[3];
  assertId(custom.id, 'sevt');
  assert.equal(custom.name, 'get_weather');
  assert.deepEqual(custom.input, { city: 'Paris' });
  assertSpanEnd(first[4], first[2]);
  assert.deepEqual(first[5].stop_reason, { type: 'requires_action', event_ids: [custom.id] });
  assert.equal((await client.beta.sessions.retrieve(session.id)).status, 'idle');
  assert.equal(fake.requests.length, mark + 1, 'no request until the result arrives');

  await client.beta.sessions.events.send(session.id, {
    events: [{ type: 'user.custom_tool_result', custom_tool_use_id: custom.id, content: [{ type: 'text', text: 'sunny' }] }],
  });
  const events = await idleEvents(session.id, 2);
  assertTypes(events, [
    ...types(first),
    'user.custom_tool_result', 'session.status_running', 'span.model_request_start', 'agent.message',
    'span.model_request_end', 'session.status_idle',
  ]);
  assertAgentMessage(events[9], 'It is sunny in Paris.');
  assertEndTurn(events[11]);

  const [one, two] = modelRequests(mark, 2);
  // web_fetch is disabled in the toolset's configs; the custom tool is offered as defined.
  assert.deepEqual(offeredTools(one), ['bash', 'edit', 'get_weather', 'glob', 'grep', 'read', 'write']);
  const { type: _custom, ...asDefined } = weatherTool;
  assert.deepEqual(one.tools.find((tool) => tool.name === 'get_weather'), asDefined);
  assert.deepEqual(two.messages, [
    said('weather in Paris?'),
    { role: 'assistant', content: [{ type: 'tool_use', id: use.id, name: 'get_weather', input: { city: 'Paris' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: [{ type: 'text', text: 'sunny' }] }] },
  ]);
  await finish(session.id);
});

test('bash with always_ask: idle requires_action; allow runs it, deny answers the model with the deny message', async () => {
  const mark = begin();
  const allowed = toolUse('bash', { command: 'echo allowed > allowed.txt && echo ran' });
  const denied = toolUse('bash', { command: 'echo denied > denied.txt' });
  fake.script(message([allowed]), message([text('Ran it.')]), message([denied]), message([text('Understood.')]));
  const session = await startSession('asking', { text: 'run it' });

  const first = await idleEvents(session.id, 1);
  assertTypes(first, [
    'user.message', 'session.status_running', 'span.model_request_start', 'agent.tool_use', 'span.model_request_end',
    'session.status_idle',
  ]);
  const ask1 = first[3];
  assert.equal(ask1.name, 'bash');
  assert.deepEqual(ask1.input, allowed.input);
  assert.equal(ask1.evaluated_permission, 'ask');
  assert.deepEqual(first[5].stop_reason, { type: 'requires_action', event_ids: [ask1.id] });
  assert.equal(fs.existsSync(workspaceFile(session.id, 'allowed.txt')), false, 'not run before the confirmation');

  await client.beta.sessions.events.send(session.id, {
    events: [{ type: 'user.tool_confirmation', tool_use_id: ask1.id, result: 'allow' }],
  });
  const second = await idleEvents(session.id, 2);
  assertTypes(second, [
    ...types(first),
    'user.tool_confirmation', 'session.status_running', 'agent.tool_result', 'span.model_request_start', 'agent.message',
    'span.model_request_end', 'session.status_idle',
  ]);
  const ran = second[8];
  assert.equal(ran.tool_use_id, ask1.id);
  assert.equal(ran.is_error, false);
  assert.ok(toolResultText(ran).split('\n').includes('ran'), JSON.stringify(ran.content));
  assertAgentMessage(second[10], 'Ran it.');
  assertEndTurn(second[12]);
  assert.equal(fs.readFileSync(workspaceFile(session.id, 'allowed.txt'), 'utf8'), 'allowed\n');

  await client.beta.sessions.events.send(session.id, { events: [userMessage('now this one')] });
  const third = await idleEvents(session.id, 3);
  assertTypes(third, [
    ...types(second),
    'user.message', 'session.status_running', 'span.model_request_start', 'agent.tool_use', 'span.model_request_end',
    'session.status_idle',
  ]);
  const ask2 = third[16];
  assert.equal(ask2.evaluated_permission, 'ask');
  assert.deepEqual(third[18].stop_reason, { type: 'requires_action', event_ids: [ask2.id] });

  const denyMessage = 'not in this workspace, thanks';
  await client.beta.sessions.events.send(session.id, {
    events: [{ type: 'user.tool_confirmation', tool_use_id: ask2.id, result: 'deny', deny_message: denyMessage }],
  });
  const events = await idleEvents(session.id, 4);
  assertTypes(events, [
    ...types(third),
    'user.tool_confirmation', 'session.status_running', 'agent.tool_result', 'span.model_request_start', 'agent.message',
    'span.model_request_end', 'session.status_idle',
  ]);
  const refused = events[21];
  assert.equal(refused.tool_use_id, ask2.id);
  assert.equal(refused.is_error, true);
  const refusal = toolResultText(refused);
  assert.ok(refusal.includes(denyMessage), JSON.stringify(refusal));
  assertAgentMessage(events[23], 'Understood.');
  assertEndTurn(events[25]);
  assert.equal(fs.existsSync(workspaceFile(session.id, 'denied.txt')), false, 'a denied command does not run');

  const bodies = modelRequests(mark, 4);
  assert.deepEqual(bodies[1].messages.at(-1), {
    role: 'user', content: [{ type: 'tool_result', tool_use_id: allowed.id, content: [{ type: 'text', text: toolResultText(ran) }] }],
  });
  assert.deepEqual(bodies[2].messages.at(-1), said('now this one'));
  assert.deepEqual(bodies[3].messages.at(-1), {
    role: 'user',
    content: [{ type: 'tool_result', tool_use_id: denied.id, content: [{ type: 'text', text: refusal }], is_error: true }],
  });
  await finish(session.id);
});

test('an answer nothing waits for (a stale confirmation): the turn Airlock starts for it ends at once, idle', async () => {
  const mark = begin();
  fake.script(message([text('Hi.')]));
  const session = await startSession('plain');
  const first = await idleEvents(session.id, 1);
  await client.beta.sessions.events.send(session.id, {
    events: [{ type: 'user.tool_confirmation', tool_use_id: 'sevt_01NothingWaitsForThis', result: 'allow' }],
  });
  const events = await idleEvents(session.id, 2);
  assertTypes(events, [...types(first), 'user.tool_confirmation', 'session.status_running', 'session.status_idle']);
  assertEndTurn(events.at(-1));
  assert.equal((await client.beta.sessions.retrieve(session.id)).status, 'idle');
  modelRequests(mark, 1);  // the first answer's; none for the stale confirmation
  await finish(session.id);
});

// ---- interrupts, retries, errors ---------------------------------------------------------------------

test('user.interrupt mid-stream: the model connection closes, the span ends in error, idle; the next message works', async () => {
  const mark = begin();
  const [held] = fake.script(stall('Let me think about th'), message([text('Back again.')]));
  const session = await startSession('plain');
  await within(held.started, 20_000, 'the model request to reach the fake');
  await until('span.model_request_start to be stored', async () =>
    types(await rt.events(session.id)).includes('span.model_request_start'));
  await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.interrupt' }] });

  const first = await idleEvents(session.id, 1);
  assertTypes(first, [
    'user.message', 'session.status_running', 'span.model_request_start', 'user.interrupt', 'span.model_request_end',
    'session.status_idle',
  ]);
  assertSpanEnd(first[4], first[2], { isError: true });
  assertEndTurn(first[5]);

  await nextTextTurn(session.id, first, 'after', 'Back again.');
  const [, two] = modelRequests(mark, 2);
  const last = two.messages.at(-1);
  assert.equal(last.role, 'user');
  assert.deepEqual(last.content.at(-1), { type: 'text', text: 'after' });
  // The request the agent dropped is dropped upstream too: the model stops generating (and billing).
  await within(held.disconnected, 10_000, 'the interrupted model connection to close');
  await finish(session.id);
});

test('a 529 with retry-after: 0 is retried: session.error model_overloaded_error (retrying), then the answer', async () => {
  const mark = begin();
  fake.script(httpError(529, 'overloaded_error', 'Overloaded', { 'retry-after': '0' }), message([text('Made it.')]));
  const session = await startSession('plain');
  const events = await idleEvents(session.id, 1);
  assertTypes(events, [
    'user.message', 'session.status_running', 'span.model_request_start', 'session.error', 'agent.message',
    'span.model_request_end', 'session.status_idle',
  ]);
  assert.deepEqual(events[3].error,
    { type: 'model_overloaded_error', message: 'Overloaded', retry_status: { type: 'retrying' } });
  assertAgentMessage(events[4], 'Made it.');
  assertSpanEnd(events[5], events[2]);
  assertEndTurn(events[6]);
  const [one, two] = modelRequests(mark, 2);
  assert.deepEqual(two, one, 'the same request again');
  await finish(session.id);
});

test('a 400 from the model: session.error model_request_failed_error (terminal), the span ends in error, idle', async () => {
  const mark = begin();
  fake.script(httpError(400, 'invalid_request_error', 'bad request from test'));
  const session = await startSession('plain');
  const events = await idleEvents(session.id, 1);
  assertTypes(events, [
    'user.message', 'session.status_running', 'span.model_request_start', 'session.error', 'span.model_request_end',
    'session.status_idle',
  ]);
  const { error } = events[3];
  assert.equal(error.type, 'model_request_failed_error');
  assert.deepEqual(error.retry_status, { type: 'terminal' });
  assert.ok(error.message.includes('bad request from test'), JSON.stringify(error));
  assertSpanEnd(events[4], events[2], { isError: true });
  assertEndTurn(events[5]);
  modelRequests(mark, 1);
  await finish(session.id);
});

test('no key: the model answers 401; session.error says which credential to add; the harness exits, the session idle', async () => {
  const mark = begin();
  const session = await startSession('plain', { withVault: false });
  const { session: ended, runtime, events } = await rt.waitForEnd(session.id);
  assert.equal(runtime.state, 'exited', `runtime: ${JSON.stringify(runtime)}\nevents:\n${summary(events)}`);
  assert.equal(ended.status, 'idle');
  assert.deepEqual(types(events).slice(0, 3), ['user.message', 'session.status_running', 'span.model_request_start'],
    summary(events));
  const errors = events.filter((e) => e.type === 'session.error');
  assert.equal(errors.length, 1, summary(events));
  const origin = `https://api.anthropic.com:${fake.port}`;
  assert.deepEqual(errors[0].error, {
    type: 'model_request_failed_error',
    message: `the model API at ${origin} refused the request (401 authentication_error: invalid x-api-key). ` +
      'ANTHROPIC_API_KEY is not set in the sandbox and no credential added a key: add to a vault of this session an ' +
      'environment_variable credential with secret_name ANTHROPIC_API_KEY whose networking allows api.anthropic.com, ' +
      `or a static_bearer credential whose mcp_server_url is ${origin} (Airlock then sends its token as x-api-key)`,
    retry_status: { type: 'terminal' },
  });
  assert.equal(events.at(-1).type, 'session.status_idle', summary(events));
  assert.ok(!types(events).includes('agent.message'), summary(events));

  const seen = fake.requests.slice(mark);
  assert.ok(seen.length >= 1, 'the agent asked the model');
  for (const request of seen) assert.notEqual(request.headers['x-api-key'], realKey);
  await finish(session.id);
});

// ---- deployments -------------------------------------------------------------------------------------

test('a deployment\'s run: its session runs the agent with the deployment\'s vault and initial message', async () => {
  const mark = begin();
  fake.script(message([text('Digest ready.')]));
  const agent = await agentOf('plain');
  const deployment = await client.beta.deployments.create({
    agent: agent.id, environment_id: environment.id, name: 'agent digest', vault_ids: [vault.id],
    initial_events: [userMessage('write the digest')],
    schedule: { type: 'cron', expression: '0 9 * * 1-5', timezone: 'UTC' },
  });
  const run = await client.beta.deployments.run(deployment.id);
  assert.equal(run.error, null);
  assertId(run.session_id, 'sesn');
  const events = await idleEvents(run.session_id, 1);
  assertTypes(events, [
    'user.message', 'session.status_running', 'span.model_request_start', 'agent.message', 'span.model_request_end',
    'session.status_idle',
  ]);
  assertAgentMessage(events[3], 'Digest ready.');
  assertEndTurn(events[5]);
  const [body] = modelRequests(mark, 1);
  assert.deepEqual(body.messages, [said('write the digest')]);
  await client.beta.deployments.archive(deployment.id);
  await finish(run.session_id);
});
