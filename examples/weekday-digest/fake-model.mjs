// A stand-in for the Messages API that the built-in agent calls in `run.sh --agent`: an HTTPS server on
// 127.0.0.1 with a certificate for api.anthropic.com (signed by the example's CA), which answers
// POST /v1/messages, streamed as the real API streams, and only to `x-api-key: <the real key>` (401
// otherwise). It plays the model from the conversation it is sent, the same way on every run:
//
//   1. no tool result yet: a `bash` tool call that fetches $METRICS_URL/v1/daily with curl and the
//      placeholder in $METRICS_API_TOKEN;
//   2. the bash call's result: a `write` tool call putting a Markdown digest of the figures it holds (the
//      tool result's text, parsed as JSON) into /workspace/digest.md;
//   3. the write's result: the final text, "Digest written: ...".
//
//   ANTHROPIC_REAL_KEY=... node fake-model.mjs CERTS DIR
//
// CERTS holds api.pem and api.key (run.sh makes them). The server writes the port it bound to DIR/port once
// it listens, appends the x-api-key of every request it receives (or "-") to DIR/x-api-key.log, one per
// line, and each request's body to DIR/requests.jsonl: run.sh checks that the real key, and nothing else,
// arrived. The framing is the tests' fake Messages API's (tests/sdk/lib/fake_messages.mjs).
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';

import { message, sendApiError, streamMessage, text, toolUse } from '../../tests/sdk/lib/fake_messages.mjs';

const [certs, dir] = process.argv.slice(2);
const realKey = process.env.ANTHROPIC_REAL_KEY;
if (!certs || !dir || !realKey) {
  console.error('usage: ANTHROPIC_REAL_KEY=... node fake-model.mjs CERTS DIR');
  process.exit(2);
}
const keyLog = path.join(dir, 'x-api-key.log');
const requestLog = path.join(dir, 'requests.jsonl');
fs.writeFileSync(keyLog, '', { mode: 0o600 });
fs.writeFileSync(requestLog, '');

const kDigestPath = '/workspace/digest.md';

function resultText(block) {
  if (typeof block.content === 'string') return block.content;
  return (block.content ?? []).filter((b) => b.type === 'text').map((b) => b.text).join('');
}

function renderDigest(daily) {
  const change = (pct) => `${pct > 0 ? '+' : ''}${pct}%`;
  return [
    `# Daily digest: ${daily.service}, ${daily.date}`,
    '',
    '| metric | value | vs. the day before |',
    '| --- | ---: | ---: |',
    ...daily.metrics.map((m) => `| ${m.name} | ${m.value} | ${change(m.change_pct)} |`),
    '',
    '## Incidents',
    ...(daily.incidents?.length ? daily.incidents.map((i) => `- ${i.id} (${i.severity}): ${i.title}`) : ['- none']),
    '',
    'Source: the metrics service, GET /v1/daily.',
    '',
  ].join('\n');
}

// The next answer, from the conversation so far: what the last message answers decides the step.
function answer(messages) {
  const last = messages.at(-1);
  const result = Array.isArray(last?.content) ? last.content.find((b) => b.type === 'tool_result') : undefined;
  if (!result) {
    return message([
      text('I will fetch yesterday\'s figures from the metrics service.'),
      // As the system prompt says: the sandbox's METRICS_URL and METRICS_API_TOKEN (a placeholder).
      toolUse('bash', { command: 'curl -sS --fail --max-time 30 -H "Authorization: Bearer $METRICS_API_TOKEN" "$METRICS_URL/v1/daily"' }),
    ]);
  }
  const call = messages.at(-2)?.content?.find((b) => b.type === 'tool_use' && b.id === result.tool_use_id);
  const output = resultText(result);
  if (result.is_error) return message([text(`The ${call?.name ?? 'tool'} call failed: ${output}`)]);
  if (call?.name === 'bash') {
    let daily;
    try {
      daily = JSON.parse(output);
    } catch {
      return message([text(`The metrics service did not answer with JSON: ${output.slice(0, 200)}`)]);
    }
    return message([toolUse('write', { file_path: kDigestPath, content: renderDigest(daily) })]);
  }
  if (call?.name === 'write') {
    return message([text(`Digest written: ${kDigestPath}.`)]);
  }
  return message([text(`I did not expect a result of ${call?.name ?? 'an unknown tool'}.`)]);
}

const server = https.createServer({
  key: fs.readFileSync(path.join(certs, 'api.key')),
  cert: fs.readFileSync(path.join(certs, 'api.pem')),
}, (req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const apiKey = req.headers['x-api-key'] ?? '-';
    fs.appendFileSync(keyLog, `${apiKey.replace(/[\r\n]/g, ' ')}\n`);
    const raw = Buffer.concat(chunks).toString('utf8');
    fs.appendFileSync(requestLog, `${JSON.stringify({ method: req.method, url: req.url, body: raw })}\n`);
    let body = null;
    try {
      body = JSON.parse(raw);
    } catch {
      body = null;
    }
    if (req.method !== 'POST' || new URL(req.url, 'https://fake').pathname !== '/v1/messages') {
      sendApiError(res, 404, 'not_found_error', `${req.method} ${req.url}: not found`);
    } else if (apiKey !== realKey) {
      sendApiError(res, 401, 'authentication_error', 'invalid x-api-key');
    } else if (!Array.isArray(body?.messages)) {
      sendApiError(res, 400, 'invalid_request_error', 'messages: a list is required');
    } else {
      streamMessage(res, answer(body.messages), body.model).catch((err) => res.destroy(err));
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(path.join(dir, 'port'), `${server.address().port}\n`);
  console.log(`fake model: https://api.anthropic.com:${server.address().port} (127.0.0.1)`);
});

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
