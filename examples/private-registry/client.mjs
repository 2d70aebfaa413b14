// The private-registry example, from the client's side: the official Anthropic SDK pointed at Airlock
// sets up a vault with two tokens, an agent and an environment, starts one session and follows it.
//
//   AIRLOCK_API_URL=http://127.0.0.1:8420 AIRLOCK_API_KEY=... NPM_REAL_TOKEN=... GIT_REAL_TOKEN=... \
//     BUILD_OUT=DIR node client.mjs
//
// The vault holds the registry's token as NPM_TOKEN, usable only towards registry.internal, and the git
// host's token as GIT_TOKEN, usable only towards git.internal; the environment's metadata selects the
// "build" harness. It prints the session's events until the harness has finished, then the egress audit
// and the runtime record, and writes DIR/session_id and DIR/events.json (the session's events, for
// run.sh to check). It exits 0 only if the session ended idle.
//
// The SDK is the one installed for the conformance tests (tests/sdk/node_modules; examples/lib/session.mjs).
import fs from 'node:fs';
import path from 'node:path';

import { allEvents, connect, follow, printRecords, required } from '../lib/session.mjs';

const npmToken = required('NPM_REAL_TOKEN');
const gitToken = required('GIT_REAL_TOKEN');
const out = required('BUILD_OUT');
const { client, extension } = connect();

// Two environment_variable credentials: the sandbox gets NPM_TOKEN and GIT_TOKEN as placeholders, and the
// proxy swaps in each real value only on requests to the one host its credential allows.
const vault = await client.beta.vaults.create({ display_name: 'Private registries' });
await client.beta.vaults.credentials.create(vault.id, {
  display_name: 'npm registry token',
  auth: {
    type: 'environment_variable', secret_name: 'NPM_TOKEN', secret_value: npmToken,
    networking: { type: 'limited', allowed_hosts: ['registry.internal'] },
  },
});
await client.beta.vaults.credentials.create(vault.id, {
  display_name: 'git host token',
  auth: {
    type: 'environment_variable', secret_name: 'GIT_TOKEN', secret_value: gitToken,
    networking: { type: 'limited', allowed_hosts: ['git.internal'] },
  },
});

const agent = await client.beta.agents.create({
  name: 'Build bot', model: 'claude-opus-5-5',
  system: 'Build with the internal packages and report to the internal repository.',
});

// airlock.harness picks the program that runs this environment's sessions (runtime.harnesses.build);
// the sessions reach the two private hosts and nothing else.
const environment = await client.beta.environments.create({
  name: 'build',
  config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: ['registry.internal', 'git.internal'] } },
  metadata: { 'airlock.harness': 'build' },
});

const session = await client.beta.sessions.create({
  agent: agent.id,
  environment_id: environment.id,
  vault_ids: [vault.id],
  initial_events: [{
    type: 'user.message',
    content: [{ type: 'text', text: 'Install @internal/greeter and push today\'s build report to org/repo.' }],
  }],
});
fs.writeFileSync(path.join(out, 'session_id'), `${session.id}\n`);
console.log(`session ${session.id}; its events:`);

await follow(client, session.id);

const events = await allEvents(client, session.id);
fs.writeFileSync(path.join(out, 'events.json'), `${JSON.stringify(events, null, 2)}\n`);

await printRecords(extension, session.id);

const { status } = await client.beta.sessions.retrieve(session.id);
if (status !== 'idle') {
  console.error(`the session ended ${status}, not idle`);
  process.exit(1);
}
