// One GET with fetch. Trust comes from NODE_EXTRA_CA_CERTS (read by Node at start-up, for every TLS
// connection). The proxy comes from HTTPS_PROXY: natively (global fetch) where Node honours
// NODE_USE_ENV_PROXY=1, else through the undici package's fetch with an EnvHttpProxyAgent, which reads
// HTTPS_PROXY / NO_PROXY and sends the URL's credentials as Proxy-Authorization.
//   node get_fetch.mjs URL      (token from API_TOKEN)
import { nativeEnvProxy } from './node_proxy.mjs';

const headers = { authorization: `Bearer ${process.env.API_TOKEN}` };
let response;
if (nativeEnvProxy) {
  process.stderr.write('proxy: native (NODE_USE_ENV_PROXY)\n');
  response = await fetch(process.argv[2], { headers });
} else {
  process.stderr.write('proxy: undici EnvHttpProxyAgent\n');
  const { fetch: undiciFetch, EnvHttpProxyAgent } = await import('undici');
  response = await undiciFetch(process.argv[2], { headers, dispatcher: new EnvHttpProxyAgent() });
}
const body = await response.text();
process.stdout.write(`${response.status}\n${body}\n`);
process.exitCode = response.ok ? 0 : 1;
