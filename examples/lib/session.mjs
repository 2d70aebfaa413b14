// What the examples' clients share: the official SDK (the one installed for the conformance tests, in
// tests/sdk/node_modules: nothing to install) pointed at Airlock from AIRLOCK_API_URL / AIRLOCK_API_KEY,
// following a session's events to the end of its harness, and printing Airlock's extension records of a
// session (the egress audit and the runtime record, which the SDK does not know).
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../tests/sdk/package.json', import.meta.url));
export const { Anthropic } = require('@anthropic-ai/sdk');

const kSessionTimeoutMs = 180_000;  // the examples' harnesses have a limit of 120 s (timeout_seconds)

// The value of environment variable `name`; exits 2, saying so, when it is not set.
export function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`set ${name} (run.sh does)`);
    process.exit(2);
  }
  return value;
}

// {client, extension(route)}: the SDK client and a GET on one of Airlock's extension routes. `responses`: a
// file to append the body of every response to (but event streams', whose events the caller lists), for
// the caller's script to check that no secret came back.
export function connect({ responses } = {}) {
  const baseURL = required('AIRLOCK_API_URL');
  const apiKey = required('AIRLOCK_API_KEY');
  const fetchAndRecord = async (url, init) => {
    const response = await fetch(url, init);
    if (responses && !(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      fs.appendFileSync(responses, `${await response.clone().text()}\n`);
    }
    return response;
  };
  const extension = async (route) => {
    const response = await fetchAndRecord(`${baseURL}${route}`, { headers: { 'x-api-key': apiKey } });
    const body = await response.json();
    if (!response.ok) throw new Error(`GET ${route}: ${response.status} ${JSON.stringify(body)}`);
    return body;
  };
  return { client: new Anthropic({ apiKey, baseURL, fetch: fetchAndRecord }), extension };
}

// At most `n` characters of `text`, on one line.
function clip(text, n = 100) {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > n ? `${line.slice(0, n - 3)}...` : line;
}

function eventText(event) {
  switch (event.type) {
    case 'agent.tool_use':
      return clip(`${event.name} ${JSON.stringify(event.input)}`);
    case 'agent.tool_result':
      return clip(`${event.is_error ? '(error) ' : ''}${(event.content ?? []).map((b) => b.text ?? `[${b.type}]`).join(' ')}`);
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

export async function allEvents(client, sessionId) {
  const events = [];
  for await (const event of client.beta.sessions.events.list(sessionId, { limit: 1000 })) events.push(event);
  return events;
}

// Without the events stream: lists the events every half second until the harness has finished.
async function poll(client, sessionId, show) {
  const deadline = Date.now() + kSessionTimeoutMs;
  while (Date.now() < deadline) {
    for (const event of await allEvents(client, sessionId)) {
      if (show(event)) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`the session did not finish within ${kSessionTimeoutMs / 1000} s`);
}

// Prints the session's events as they come, until the harness has finished: the stream delivers what is
// stored after it opened, the list what was stored before (a short harness may be done already).
export async function follow(client, sessionId) {
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
      return await poll(client, sessionId, show);  // a daemon without GET .../events/stream
    }
    for (const event of await allEvents(client, sessionId)) {
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

// Prints the session's egress audit and its runtime record.
export async function printRecords(extension, sessionId) {
  const egress = await extension(`/v1/sessions/${sessionId}/egress`);
  console.log('\negress audit (GET /v1/sessions/{id}/egress):');
  for (const entry of egress.data) {
    // A static_bearer credential has no secret name: its id says which it was.
    const used = entry.credentials.map((c) => `${c.secret_name || c.credential_id} in ${c.location}`).join(', ') ||
                 'no credential';
    console.log(`  ${entry.method} ${entry.host}:${entry.port}${entry.path} -> ${entry.status} ${entry.decision}` +
                `${entry.reason ? ` (${entry.reason})` : ''}; ${used}`);
  }
  const runtime = await extension(`/v1/sessions/${sessionId}/runtime`);
  console.log('\nruntime (GET /v1/sessions/{id}/runtime):');
  console.log(`  ${runtime.runtime} harness ${runtime.harness}: ${runtime.state}, exit code ${runtime.exit_code}, ` +
              `${runtime.duration_seconds?.toFixed(2)} s, ${runtime.stderr.bytes} bytes of stderr`);
  if (runtime.stderr.tail) console.log(`  stderr tail:\n${runtime.stderr.tail.trimEnd().replace(/^/gm, '    ')}`);
}
