// The Claude Code example, from the client's side: the official SDK pointed at Airlock sets up a vault
// with the model key, an environment whose sessions run the "claude-code" harness, an agent and a session,
// then sends two messages and follows each turn until the session is idle again.
//
//   AIRLOCK_API_URL=... AIRLOCK_API_KEY=... ANTHROPIC_REAL_KEY=... EXAMPLE_OUT=DIR node client.mjs
//
// Writes DIR/session.json and DIR/events.json for run.sh's checks, and checks what the SDK shows: Claude
// Code's messages, its Bash call and the call's result (run in the sandbox, with a placeholder for the
// key), each turn ending idle with end_turn, and the usage added from the turns' spans. Exits 1 otherwise.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { allEvents, connect, printRecords, required } from '../lib/session.mjs';

const realKey = required('ANTHROPIC_REAL_KEY');
const out = required('EXAMPLE_OUT');
const { client, extension } = connect();

// Lists the session's events every half second, printing the new ones, until `turns` turns have ended
// (the harness keeps running between turns, so the session's end is an idle, not an exit).
async function untilTurnsEnded(sessionId, turns, printed) {
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    const events = await allEvents(client, sessionId);
    for (const event of events.slice(printed.count)) {
      const text = ['agent.message', 'user.message'].includes(event.type) ? event.content.map((b) => b.text).join('')
        : event.type === 'agent.tool_use' ? `${event.name} ${JSON.stringify(event.input)}`
          : event.type === 'agent.tool_result' ? event.content.map((b) => b.text).join('').replace(/\n/g, ' | ')
            : event.type === 'session.status_idle' ? `stop_reason ${event.stop_reason?.type}`
              : event.type === 'session.error' ? `${event.error?.type}: ${event.error?.message}` : '';
      console.log(`  ${event.type.padEnd(26)} ${text}`);
    }
    printed.count = events.length;
    const ended = events.filter((e) => e.type === 'session.status_idle' || e.type === 'session.status_terminated');
    if (ended.length >= turns && ['session.status_idle', 'session.status_terminated'].includes(events.at(-1)?.type)) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`turn ${turns} did not end within 300 s`);
}

// The model key. The sandbox gets ANTHROPIC_API_KEY=<placeholder>; the proxy puts the real key in the
// request headers to api.anthropic.com, and only there. Headers only: a placeholder a command prints into
// the conversation then reaches the model as the placeholder, never as the key.
const vault = await client.beta.vaults.create({ display_name: 'Claude Code model key' });
await client.beta.vaults.credentials.create(vault.id, {
  display_name: 'Anthropic API key',
  auth: {
    type: 'environment_variable', secret_name: 'ANTHROPIC_API_KEY', secret_value: realKey,
    networking: { type: 'limited', allowed_hosts: ['api.anthropic.com'] }, injection_location: { header: true },
  },
});

// airlock.harness picks the program that runs this environment's sessions: runtime.harnesses.claude-code.
const environment = await client.beta.environments.create({
  name: 'claude-code',
  config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: ['api.anthropic.com'] } },
  metadata: { 'airlock.harness': 'claude-code' },
});
const agent = await client.beta.agents.create({ name: 'Claude Code', model: 'claude-opus-5-5' });

const session = await client.beta.sessions.create({
  agent: agent.id, environment_id: environment.id, vault_ids: [vault.id],
  initial_events: [{ type: 'user.message', content: [{ type: 'text', text: 'Say hello from the sandbox with a shell command.' }] }],
});
fs.writeFileSync(path.join(out, 'session_id'), `${session.id}\n`);
console.log(`session ${session.id}; its events:`);
const printed = { count: 0 };
await untilTurnsEnded(session.id, 1, printed);

// The second turn: the adapter runs the CLI again with --resume, so the conversation goes on.
const firstTurn = printed.count;
console.log('\nthe second turn:');
await client.beta.sessions.events.send(session.id, {
  events: [{ type: 'user.message', content: [{ type: 'text', text: 'Thank you!' }] }],
});
await untilTurnsEnded(session.id, 2, printed);

const finished = await client.beta.sessions.retrieve(session.id);
const events = await allEvents(client, session.id);
fs.writeFileSync(path.join(out, 'session.json'), `${JSON.stringify(finished, null, 2)}\n`);
fs.writeFileSync(path.join(out, 'events.json'), `${JSON.stringify(events, null, 2)}\n`);
await printRecords(extension, session.id);

// --- the checks -----------------------------------------------------------------------------------

const ofType = (type, list = events) => list.filter((e) => e.type === type);
const texts = ofType('agent.message').map((e) => e.content.map((b) => b.text).join(''));
assert.ok(texts.includes('Let me run a command.'), `Claude Code's first message is missing: ${JSON.stringify(texts)}`);
assert.ok(texts.includes('The command ran in the sandbox and printed its greeting.'), 'its final message is missing');
assert.ok(texts.includes('You are welcome.'), 'the second turn\'s answer is missing');

const [toolUse] = ofType('agent.tool_use');
assert.ok(toolUse, 'no agent.tool_use');
assert.equal(toolUse.name, 'Bash');
assert.equal(toolUse.evaluated_permission, 'allow');
const [toolResult] = ofType('agent.tool_result');
assert.ok(toolResult, 'no agent.tool_result');
assert.equal(toolResult.tool_use_id, toolUse.id, 'the tool result points at its tool_use event');
assert.equal(toolResult.is_error, false);
const output = toolResult.content.map((b) => b.text).join('');
assert.match(output, /^hello from sandbox as nobody$/m, `the command did not run in the sandbox: ${output}`);
assert.match(output, /^ANTHROPIC_API_KEY starts airlock_ph_$/m, 'the sandbox did not hold a placeholder');

// Each turn: a span around it, ended with the usage, then idle with end_turn.
const idles = ofType('session.status_idle');
assert.ok(idles.length >= 2, 'two turns, two idles');
assert.ok(idles.every((e) => e.stop_reason?.type === 'end_turn'), 'every turn ends with end_turn');
assert.equal(events.at(-1).type, 'session.status_idle', 'the session ends idle');
assert.equal(finished.status, 'idle');
assert.equal(ofType('session.error').length, 0, `session errors: ${JSON.stringify(ofType('session.error'))}`);
const spanEnds = ofType('span.model_request_end');
assert.equal(spanEnds.length, 2);
const starts = new Set(ofType('span.model_request_start').map((e) => e.id));
assert.ok(spanEnds.every((e) => starts.has(e.model_request_start_id) && e.is_error === false));
assert.ok(ofType('span.model_request_end', events.slice(firstTurn)).length === 1, 'the second turn has its own span');
const summed = spanEnds.reduce((sum, e) => sum + e.model_usage.input_tokens, 0);
assert.ok(summed > 0, 'the spans carry the turns\' usage');
assert.equal(finished.usage.input_tokens, summed, 'the usage was added to the session');
assert.equal(finished.usage.output_tokens, spanEnds.reduce((sum, e) => sum + e.model_usage.output_tokens, 0));
console.log(`\nusage: ${JSON.stringify(finished.usage)}`);
