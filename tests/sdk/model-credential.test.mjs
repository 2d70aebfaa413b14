// A model-provider credential end to end: a static_bearer whose mcp_server_url is on api.anthropic.com
// makes the proxy send its token in x-api-key (the header Anthropic's API takes its key in), replacing any
// key the client sent and adding no Authorization; any other static_bearer still sends Authorization:
// Bearer. The official SDK sets up an "LLM vault", an MCP vault and a session with both; real curl,
// configured only from the session's sandbox_env, calls a test origin that is api.anthropic.com and
// metrics.test to the daemon (--resolve) and records what it received.
import assert from 'node:assert/strict';

import { useOrigin } from './lib/origin.mjs';
import { useDaemon } from './lib/harness.mjs';
import { curl } from './lib/curl.mjs';

const { certificates, origin } = await useOrigin(['api.anthropic.com', 'metrics.test']);

// Both names resolve to the origin on loopback, which the proxy refuses unless allowed (N1): 127.0.0.1 only.
const daemonArgs = ['--upstream-ca', certificates.ca, '--resolve', 'api.anthropic.com:127.0.0.1',
                    '--resolve', 'metrics.test:127.0.0.1', '--allow-private', '127.0.0.1/32'];
const ctx = useDaemon({ args: daemonArgs });
const modelUrl = `https://api.anthropic.com:${origin.port}`;
const mcpUrl = `https://metrics.test:${origin.port}/mcp`;

let setup;

// curl through the proxy; returns what the origin received for it.
async function send(args) {
  const before = origin.received.length;
  const result = await curl(setup.env, args);
  assert.equal(result.status, 200, result.stderr + result.body);
  assert.equal(origin.received.length, before + 1);
  // The origin echoed every header back: the token never reaches the sandbox.
  assert.equal(result.body.includes(setup.modelToken), false, result.body);
  assert.equal(result.body.includes(setup.mcpToken), false, result.body);
  return origin.received.at(-1);
}

function messagesRequest(extraHeaders = []) {
  const body = JSON.stringify({ model: 'claude-opus-5-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
  return ['-X', 'POST', '-H', 'content-type: application/json', '-H', 'anthropic-version: 2023-06-01',
          ...extraHeaders.flatMap((header) => ['-H', header]), '--data-binary', body, `${modelUrl}/v1/messages`];
}

ctx.test('setup: an LLM vault with a model-provider credential, an MCP vault, a session with both', async () => {
  const modelToken = ctx.secret('sk-ant-api03');
  const mcpToken = ctx.secret('mcp-token');
  const llmVault = await ctx.client.beta.vaults.create({ display_name: 'LLM' });
  const model = await ctx.client.beta.vaults.credentials.create(llmVault.id, {
    auth: { type: 'static_bearer', mcp_server_url: modelUrl, token: modelToken },
  });
  const mcpVault = await ctx.client.beta.vaults.create({ display_name: 'MCP' });
  const mcp = await ctx.client.beta.vaults.credentials.create(mcpVault.id, {
    auth: { type: 'static_bearer', mcp_server_url: mcpUrl, token: mcpToken },
  });
  const environment = await ctx.client.beta.environments.create({ name: 'model-credential' });
  const agent = await ctx.client.beta.agents.create({ name: 'model-credential', model: 'claude-opus-5-5' });
  const session = await ctx.client.beta.sessions.create({ agent: agent.id, environment_id: environment.id,
                                                          vault_ids: [llmVault.id, mcpVault.id] });
  const { status, json: sandbox } = await ctx.raw('GET', `/v1/sessions/${session.id}/sandbox_env`);
  assert.equal(status, 200, JSON.stringify(sandbox));
  assert.equal(sandbox.env.ANTHROPIC_API_KEY, undefined);  // the sandbox holds no key at all
  setup = { modelToken, mcpToken, model, mcp, session, env: sandbox.env };
});

ctx.test('a request to api.anthropic.com with no key gets exactly x-api-key: <token>, and no Authorization', async () => {
  const seen = await send(messagesRequest());
  assert.equal(seen.method, 'POST');
  assert.equal(seen.url, '/v1/messages');
  assert.equal(seen.headers['x-api-key'], setup.modelToken);
  assert.equal(seen.headers.authorization, undefined);
  assert.equal(seen.headers['anthropic-version'], '2023-06-01');
  assert.equal(JSON.parse(seen.body).model, 'claude-opus-5-5');
});

ctx.test("a client's own x-api-key is replaced, not kept beside the token", async () => {
  const seen = await send(messagesRequest(['x-api-key: placeholder-ish junk', 'X-Api-Key: more junk']));
  assert.equal(seen.headers['x-api-key'], setup.modelToken);  // Node joins repeated fields: one field only
  assert.equal(seen.headers.authorization, undefined);
});

ctx.test('any path on the host is covered', async () => {
  const seen = await send([`${modelUrl}/v1/models?limit=1`]);
  assert.equal(seen.url, '/v1/models?limit=1');
  assert.equal(seen.headers['x-api-key'], setup.modelToken);
  assert.equal(seen.headers.authorization, undefined);
});

ctx.test('an ordinary static_bearer still gets Authorization: Bearer, and a client x-api-key is left alone', async () => {
  const seen = await send(['-H', 'x-api-key: client-own', `${mcpUrl}/tools`]);
  assert.equal(seen.url, '/mcp/tools');
  assert.equal(seen.headers.authorization, `Bearer ${setup.mcpToken}`);
  assert.equal(seen.headers['x-api-key'], 'client-own');
});

ctx.test('the egress audit names the model credential at header, never its value', async () => {
  await new Promise((resolve) => setTimeout(resolve, 600));  // the audit writer flushes every 250 ms
  const { json: page } = await ctx.raw('GET', `/v1/sessions/${setup.session.id}/egress?limit=100`);
  const text = JSON.stringify(page);
  assert.equal(text.includes(setup.modelToken), false);
  const messages = page.data.filter((row) => row.host === 'api.anthropic.com' && row.path === '/v1/messages');
  assert.equal(messages.length, 2, text);
  for (const row of messages) {
    assert.equal(row.decision, 'allowed');
    assert.deepEqual(row.credentials.map((c) => [c.credential_id, c.location]), [[setup.model.id, 'header']]);
  }
  ctx.assertNoSecretsLeaked();
});
