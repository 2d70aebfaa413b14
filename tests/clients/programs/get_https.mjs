// One GET with https.request. Trust comes from NODE_EXTRA_CA_CERTS (read by Node at start-up). The proxy
// comes from HTTPS_PROXY: natively where Node honours NODE_USE_ENV_PROXY=1, else through
// https-proxy-agent, given HTTPS_PROXY here (the package reads no variable itself; its URL's credentials
// become Proxy-Authorization). NO_PROXY is not consulted on that path: the URL is never a loopback one.
//   node get_https.mjs URL      (token from API_TOKEN)
import https from 'node:https';

import { nativeEnvProxy } from './node_proxy.mjs';

let agent;
if (nativeEnvProxy) {
  process.stderr.write('proxy: native (NODE_USE_ENV_PROXY)\n');
} else {
  const proxy = process.env.HTTPS_PROXY || process.env.https_proxy;
  if (!proxy) throw new Error('HTTPS_PROXY is not set');
  process.stderr.write('proxy: https-proxy-agent\n');
  const { HttpsProxyAgent } = await import('https-proxy-agent');
  agent = new HttpsProxyAgent(proxy);
}

const request = https.request(process.argv[2], {
  headers: { authorization: `Bearer ${process.env.API_TOKEN}` },
  ...(agent ? { agent } : {}),
  timeout: 30_000,
}, (response) => {
  const chunks = [];
  response.on('data', (chunk) => chunks.push(chunk));
  response.on('end', () => {
    process.stdout.write(`${response.statusCode}\n${Buffer.concat(chunks).toString('utf8')}\n`);
    process.exitCode = response.statusCode >= 200 && response.statusCode < 300 ? 0 : 1;
  });
});
request.on('timeout', () => request.destroy(new Error('no answer within 30 s')));
request.on('error', (err) => { process.stderr.write(`${err.stack}\n`); process.exitCode = 2; });
request.end();
