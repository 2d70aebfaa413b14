// The weekday digest, from the client's side: everything is set up through the official Anthropic SDK
// pointed at Airlock, then one run of the deployment is started by hand and followed to its end.
//
//   AIRLOCK_API_URL=http://127.0.0.1:8420 AIRLOCK_API_KEY=... METRICS_REAL_TOKEN=... DIGEST_OUT=DIR \
//     [MODEL_URL=https://api.anthropic.com:PORT ANTHROPIC_REAL_KEY=...] node client.mjs
//
// It creates two vaults (the model provider's key, and the metrics token as an environment_variable
// credential limited to metrics.internal), an agent, an environment whose metadata selects the "digest"
// harness, and a deployment that runs at 09:00 London time on weekdays. Then it runs the deployment now,
// follows the session's events until the harness has finished, and prints the egress audit and the
// runtime record. It writes DIR/session_id, DIR/events.json (the session's events) and DIR/responses.log
// (every API response's body), for run.sh to check, and exits 0 only if the session ended idle.
//
// With MODEL_URL (`run.sh --agent`), the session runs Airlock's built-in agent instead: the model
// provider's vault holds the real key for MODEL_URL, the agent has the agent_toolset_20260401 tools, and
// the environment names no harness. The session then waits for its next turn; the client archives it,
// which ends its sandbox, before printing the records.
//
// The SDK is the one installed for the conformance tests (tests/sdk/node_modules; examples/lib/session.mjs).
import fs from 'node:fs';
import path from 'node:path';

import { allEvents, connect, follow, printRecords, required } from '../lib/session.mjs';

const metricsToken = required('METRICS_REAL_TOKEN');
const out = required('DIGEST_OUT');
const modelUrl = process.env.MODEL_URL;
const builtIn = Boolean(modelUrl);
const modelKey = builtIn ? required('ANTHROPIC_REAL_KEY') : null;
const { client, extension } = connect({ responses: path.join(out, 'responses.log') });

// --- the setup a user does once -------------------------------------------------------------------

// The model provider's key, a static_bearer credential, which exposes no variable to the sandbox. The
// "digest" harness calls no model, so its token is a stand-in that is only stored. For the built-in agent
// it is the real key, and its mcp_server_url the model API: the proxy sets x-api-key to it on every
// request to that host.
const llmVault = await client.beta.vaults.create({ display_name: 'LLM provider' });
await client.beta.vaults.credentials.create(llmVault.id, {
  display_name: 'Anthropic API',
  auth: builtIn
    ? { type: 'static_bearer', mcp_server_url: modelUrl, token: modelKey }
    : { type: 'static_bearer', mcp_server_url: 'https://api.anthropic.com/mcp', token: 'sk-ant-example-only' },
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
  system: 'Summarise yesterday\'s service metrics for the team.' + (builtIn
    ? ' Yesterday\'s figures are at $METRICS_URL/v1/daily (Authorization: Bearer $METRICS_API_TOKEN).' : ''),
  ...(builtIn ? { tools: [{ type: 'agent_toolset_20260401' }] } : {}),
});

// airlock.harness picks the program that runs this environment's sessions (runtime.harnesses.digest);
// without it, the built-in agent runs them.
const environment = await client.beta.environments.create({
  name: builtIn ? 'digest-agent' : 'digest',
  config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: ['metrics.internal', 'api.anthropic.com'] } },
  ...(builtIn ? {} : { metadata: { 'airlock.harness': 'digest' } }),
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

await follow(client, sessionId);

const session = await client.beta.sessions.retrieve(sessionId);
if (builtIn) {
  await client.beta.sessions.archive(sessionId);
  await sandboxEnded(sessionId);
}
const events = await allEvents(client, sessionId);
fs.writeFileSync(path.join(out, 'events.json'), `${JSON.stringify(events, null, 2)}\n`);

await printRecords(extension, sessionId);
if (session.status !== 'idle') {
  console.error(`the session ended ${session.status}, not idle`);
  process.exit(1);
}

// The built-in agent's sandbox stops a moment after its session is archived.
async function sandboxEnded(id) {
  for (let i = 0; i < 100; ++i) {
    const { state } = await extension(`/v1/sessions/${id}/runtime`);
    if (['exited', 'failed', 'out_of_memory', 'timed_out', 'stopped', 'lost'].includes(state)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the sandbox of ${id} did not stop within 20 s of its session's archiving`);
}
