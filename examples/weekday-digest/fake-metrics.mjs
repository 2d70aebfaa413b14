// A stand-in for the metrics service the weekday digest reads: an HTTPS server on 127.0.0.1 with a
// certificate for metrics.internal, which answers GET /v1/daily with yesterday's figures as JSON, and only
// to `Authorization: Bearer <the real token>` (401 otherwise).
//
//   METRICS_REAL_TOKEN=... node fake-metrics.mjs DIR
//
// DIR holds metrics.pem and metrics.key (run.sh makes them). METRICS_LISTEN_HOST: another address to
// listen on than 127.0.0.1 (the sidecar example's). The server writes the port it bound to
// DIR/port once it listens, and appends the Authorization value of every request it receives, as it
// received it (or "-" when there was none), one per line, to DIR/authorization.log: run.sh checks that
// the real token, and nothing else, arrived. The last figures served are in DIR/daily.json (`run.sh
// --agent` looks for them in the digest).
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';

const dir = process.argv[2];
const token = process.env.METRICS_REAL_TOKEN;
if (!dir || !token) {
  console.error('usage: METRICS_REAL_TOKEN=... node fake-metrics.mjs DIR');
  process.exit(2);
}
const seenFile = path.join(dir, 'authorization.log');
fs.writeFileSync(seenFile, '', { mode: 0o600 });

function yesterday() {
  const day = new Date(Date.now() - 86_400_000);
  return day.toISOString().slice(0, 10);
}

// Figures that look like a real day's, the same on every run.
function dailyMetrics() {
  return {
    date: yesterday(),
    service: 'checkout',
    metrics: [
      { name: 'requests', value: 1284312, change_pct: 3.2 },
      { name: 'error_rate_pct', value: 0.21, change_pct: -12.5 },
      { name: 'p95_latency_ms', value: 182, change_pct: 4.0 },
      { name: 'signups', value: 342, change_pct: 8.9 },
      { name: 'revenue_usd', value: 48211.5, change_pct: 1.7 },
    ],
    incidents: [{ id: 'INC-2291', title: 'Card processor timeouts, 14:05-14:20 UTC', severity: 'minor' }],
  };
}

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = https.createServer({
  key: fs.readFileSync(path.join(dir, 'metrics.key')),
  cert: fs.readFileSync(path.join(dir, 'metrics.pem')),
}, (req, res) => {
  const authorization = req.headers.authorization ?? '-';
  fs.appendFileSync(seenFile, `${authorization.replace(/[\r\n]/g, ' ')}\n`);
  req.resume();
  req.on('end', () => {
    if (authorization !== `Bearer ${token}`) {
      reply(res, 401, { error: 'unauthorized', message: 'send Authorization: Bearer <your metrics API token>' });
    } else if (req.method === 'GET' && req.url === '/v1/daily') {
      const daily = dailyMetrics();
      fs.writeFileSync(path.join(dir, 'daily.json'), `${JSON.stringify(daily)}\n`);
      reply(res, 200, daily);
    } else {
      reply(res, 404, { error: 'not_found', message: 'try GET /v1/daily' });
    }
  });
});

server.listen(0, process.env.METRICS_LISTEN_HOST || '127.0.0.1', () => {
  fs.writeFileSync(path.join(dir, 'port'), `${server.address().port}\n`);
  console.log(`fake metrics service: https://metrics.internal:${server.address().port} (127.0.0.1)`);
});

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
