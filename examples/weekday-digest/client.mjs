// The weekday digest, from the client's side: everything is set up through the official Anthropic SDK
// pointed at Airlock, then one run of the deployment is started by hand and followed to its end.
//
//   AIRLOCK_API_URL=http://127.0.0.1:8420 AIRLOCK_API_KEY=... METRICS_REAL_TOKEN=... DIGEST_OUT=DIR \
//     node client.mjs
//
// It creates two vaults (the model provider's key, and the metrics token as an environment_variable
// credential limited to metrics.internal), an agent, an environment whose metadata selects the "digest"
// harness, and a deployment that runs at 09:00 London time on weekdays. Then it runs the deployment now,
// follows the session's events until the harness has finished, and prints the egress audit and the
// runtime record. It writes DIR/session_id and DIR/events.json (the session's events, for run.sh to
// check) and exits 0 only if the session ended idle.
//
// The SDK is the one installed for the conformance tests (tests/sdk/node_modules): nothing to install.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(new URL('../../tests/sdk/package.json', import.meta.url));
const { Anthropic } = require('@anthropic-ai/sdk');

const kSessionTimeoutMs = 180_000;  // the harness's own limit is 120 s (timeout_seconds in run.sh's config)

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`client.mjs: set ${name} (run.sh does)`);
    process.exit(2);
  }
  return value;
}

const baseURL = required('AIRLOCK_API_URL');
const apiKey = required('AIRLOCK_API_KEY');
const metricsToken = required('METRICS_REAL_TOKEN');
const out = required('DIGEST_OUT');

const client = new Anthropic({ apiKey, baseURL });

// Airlock's extension routes (GET /v1/sessions/{id}/egress and /runtime) are not in the SDK.
async function extension(route) {
  const response = await fetch(`${baseURL}${route}`, { headers: { 'x-api-key': apiKey } });
  const body = await response.json();
  if (!response.ok) throw new Error(`GET ${route}: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

function eventText(event) {
  switch (event.type) {
    case 'user.message':
    case 'system.message':
    case 'agent.message':
      return (event.content ?? []).filter((b) => b.type === 'text').map((b) => b.text).join(' ');
    case 'session.status_idle':
      return `stop_reason ${event.stop_reason?.type}`;
    case 'session.error':
      return `${event.error?.type}: ${event.error?.message}`;
    default:
      return '';
  }
}

function printEvent(event) {
  console.log(`  ${event.type.padEnd(26)} ${eventText(event)}`);
}

const isEnd = (event) => event.type === 'session.status_idle' || event.type === 'session.status_terminated';

async function allEvents(sessionId) {
  const events = [];
  for await (const event of client.beta.sessions.events.list(sessionId, { limit: 1000 })) events.push(event);
  return events;
}

// Without the events stream: lists the events every half second until the harness has finished.
async function poll(sessionId, show) {
  const deadline = Date.now() + kSessionTimeoutMs;
  while (Date.now() < deadline) {
    for (const event of await allEvents(sessionId)) {
      if (show(event)) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`the session did not finish within ${kSessionTimeoutMs / 1000} s`);
}

// Prints the session's events as they come, until the harness has finished: the stream delivers what is
// stored after it opened, the list what was stored before (a short harness may be done already).
async function follow(sessionId) {
  const seen = new Set();
  const show = (event) => {
    if (seen.has(event.id)) return false;
    seen.add(event.id);
    printEvent(event);
    return isEnd(event);
  };
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), kSessionTimeoutMs);
  try {
    let stream;
    try {
      stream = await client.beta.sessions.events.stream(sessionId, {}, { signal: controller.signal });
    } catch (err) {
      if (!(err instanceof Anthropic.NotFoundError) && !(err instanceof Anthropic.APIError && err.status === 405)) throw err;
      return await poll(sessionId, show);  // a daemon without GET .../events/stream
    }
    for (const event of await allEvents(sessionId)) {
      if (show(event)) return;
    }
    for await (const event of stream) {
      if (show(event)) return;
    }
    throw new Error('the event stream ended before the session did');
  } catch (err) {
    if (controller.signal.aborted) throw new Error(`the session did not finish within ${kSessionTimeoutMs / 1000} s`);
    throw err;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

// --- the setup a user does once -------------------------------------------------------------------

// The model provider's key. This example's harness calls no model, so the token is a stand-in that is only
// stored; a static_bearer credential exposes no variable to the sandbox.
const llmVault = await client.beta.vaults.create({ display_name: 'LLM provider' });
await client.beta.vaults.credentials.create(llmVault.id, {
  display_name: 'Anthropic API',
  auth: { type: 'static_bearer', mcp_server_url: 'https://api.anthropic.com/mcp', token: 'sk-ant-example-only' },
});

// The metrics token: the sandbox gets METRICS_API_TOKEN=<placeholder>; the proxy swaps in the real value
// on requests to metrics.internal, and only there.
const metricsVault = await client.beta.vaults.create({ display_name: 'Metrics' });
await client.beta.vaults.credentials.create(metricsVault.id, {
  display_name: 'Metrics API token',
  auth: {
    type: 'environment_variable', secret_name: 'METRICS_API_TOKEN', secret_value: metricsToken,
    networking: { type: 'limited', allowed_hosts: ['metrics.internal'] },
  },
});

const agent = await client.beta.agents.create({
  name: 'Weekday digest', model: 'claude-opus-5-5',
  system: 'Summarise yesterday\'s service metrics for the team.',
});

// airlock.harness picks the program that runs this environment's sessions (runtime.harnesses.digest).
const environment = await client.beta.environments.create({
  name: 'digest',
  config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: ['metrics.internal', 'api.anthropic.com'] } },
  metadata: { 'airlock.harness': 'digest' },
});

const deployment = await client.beta.deployments.create({
  name: 'Weekday digest',
  agent: agent.id,
  environment_id: environment.id,
  vault_ids: [llmVault.id, metricsVault.id],
  initial_events: [{
    type: 'user.message',
    content: [{ type: 'text', text: 'Write yesterday\'s metrics digest to /workspace/digest.md.' }],
  }],
  schedule: { type: 'cron', expression: '0 9 * * 1-5', timezone: 'Europe/London' },
});
console.log(`deployment ${deployment.id}: "${deployment.schedule.expression}" in ${deployment.schedule.timezone}; next runs:`);
for (const at of deployment.schedule.upcoming_runs_at) console.log(`  ${at}`);

// --- one run, now -----------------------------------------------------------------------------------

const run = await client.beta.deployments.run(deployment.id);
if (run.error) {
  console.error(`the run could not create its session: ${run.error.type}: ${run.error.message}`);
  process.exit(1);
}
const { session_id: sessionId } = await client.beta.deploymentRuns.retrieve(run.id);
fs.writeFileSync(path.join(out, 'session_id'), `${sessionId}\n`);
console.log(`\nrun ${run.id} (manual) -> session ${sessionId}; its events:`);

await follow(sessionId);

const session = await client.beta.sessions.retrieve(sessionId);
const events = await allEvents(sessionId);
fs.writeFileSync(path.join(out, 'events.json'), `${JSON.stringify(events, null, 2)}\n`);

const egress = await extension(`/v1/sessions/${sessionId}/egress`);
console.log('\negress audit (GET /v1/sessions/{id}/egress):');
for (const entry of egress.data) {
  const used = entry.credentials.map((c) => `${c.secret_name} in ${c.location}`).join(', ') || 'no credential';
  console.log(`  ${entry.method} ${entry.host}:${entry.port}${entry.path} -> ${entry.status} ${entry.decision}` +
              `${entry.reason ? ` (${entry.reason})` : ''}; ${used}`);
}

const runtime = await extension(`/v1/sessions/${sessionId}/runtime`);
console.log('\nruntime (GET /v1/sessions/{id}/runtime):');
console.log(`  ${runtime.runtime} harness ${runtime.harness}: ${runtime.state}, exit code ${runtime.exit_code}, ` +
            `${runtime.duration_seconds?.toFixed(2)} s, ${runtime.stderr.bytes} bytes of stderr`);
if (runtime.stderr.tail) console.log(`  stderr tail:\n${runtime.stderr.tail.trimEnd().replace(/^/gm, '    ')}`);

console.log(`\nsession ${sessionId} is ${session.status}`);
if (session.status !== 'idle') process.exit(1);
