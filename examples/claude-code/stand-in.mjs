// A stand-in for the Messages API at api.anthropic.com, for the Claude Code example: HTTPS on 127.0.0.1
// (tests/sdk/lib/fake_messages.mjs: the API's framing, a 401 unless x-api-key is the real key), answering
// every request Claude Code sends. The main prompt (the request that offers the Bash tool) gets one Bash
// call, and once its result is back a final text; a main prompt whose last message thanks it (the second
// turn) gets a short text; every other request (titles, quota checks, summaries) gets a short text too.
//
//   STAND_IN_REAL_KEY=... node stand-in.mjs DIR
//
// Writes DIR/ca.pem (the CA the daemon trusts with --upstream-ca), DIR/port once listening, and appends
// each request to DIR/requests.jsonl ({method, path, status, x_api_key_is_real, main_prompt, thanks,
// messages}: what run.sh checks; never a key).
import fs from 'node:fs';
import path from 'node:path';

import { FakeMessages, message, text, toolUse } from '../../tests/sdk/lib/fake_messages.mjs';

// What the model asks Claude Code to run: it shows where it runs, and that the sandbox holds a placeholder.
const kCommand = 'echo "hello from $(hostname) as $(id -un)"; echo "ANTHROPIC_API_KEY starts $(printenv ANTHROPIC_API_KEY | cut -c1-11)"';
const kFinalText = 'The command ran in the sandbox and printed its greeting.';
const kUsage = { input_tokens: 120, output_tokens: 30, cache_read_input_tokens: 10, cache_creation_input_tokens: 5 };

function lastUserContent(body) {
  const messages = Array.isArray(body?.messages) ? body.messages : [];
  const last = messages.at(-1);
  if (!last || last.role !== 'user') return [];
  return Array.isArray(last.content) ? last.content : [{ type: 'text', text: String(last.content ?? '') }];
}

function isMainPrompt(body) {
  return Array.isArray(body?.tools) && body.tools.some((tool) => tool?.name === 'Bash');
}

function thanks(body) {
  return lastUserContent(body).some((block) => block?.type === 'text' && /thank you/i.test(block.text ?? ''));
}

function respond(body) {
  if (!isMainPrompt(body)) return message([text('Sandbox check')], { usage: { input_tokens: 5, output_tokens: 2 } });
  if (thanks(body)) return message([text('You are welcome.')], { usage: kUsage });
  if (lastUserContent(body).some((block) => block?.type === 'tool_result')) {
    return message([text(kFinalText)], { usage: kUsage });
  }
  return message([text('Let me run a command.'), toolUse('Bash', { command: kCommand, description: 'Greet from the sandbox' })],
    { usage: kUsage });
}

const dir = process.argv[2];
const realKey = process.env.STAND_IN_REAL_KEY;
if (!dir || !realKey) {
  console.error('usage: STAND_IN_REAL_KEY=... node stand-in.mjs DIR');
  process.exit(2);
}
const fake = new FakeMessages({ realKey, names: ['api.anthropic.com'], respond });
const handle = fake.handle.bind(fake);
const log = path.join(dir, 'requests.jsonl');
fake.handle = (req, res) => {
  res.on('finish', () => {
    const seen = fake.requests.at(-1);
    if (!seen) return;
    fs.appendFileSync(log, `${JSON.stringify({
      method: seen.method, path: seen.path, status: res.statusCode,
      x_api_key_is_real: seen.headers['x-api-key'] === realKey,
      main_prompt: isMainPrompt(seen.body),
      thanks: thanks(seen.body),
      messages: Array.isArray(seen.body?.messages) ? seen.body.messages.length : 0,
    })}\n`);
  });
  handle(req, res);
};
await fake.start();
fs.copyFileSync(fake.ca, path.join(dir, 'ca.pem'));
fs.writeFileSync(path.join(dir, 'port.tmp'), String(fake.port));
fs.renameSync(path.join(dir, 'port.tmp'), path.join(dir, 'port'));
const stop = async () => {
  await fake.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
