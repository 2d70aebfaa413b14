// The common HTTP clients, each holding the token only as a placeholder, make one GET with
// `Authorization: Bearer $API_TOKEN` through Airlock: the origin must receive the real token, the client
// must see a 200 whose echoed Authorization carries the placeholder again (Airlock redacts what the origin
// echoes), and the real token must be nowhere in the client's output, its HOME or the daemon's log. Proxy
// and trust reach every client through the session's sandbox_env only.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { useLab, startHttpsOrigin, runTool, freshDir, assertSecretNowhere } from './lib/lab.mjs';
import { supportsEnvProxy } from './programs/node_proxy.mjs';

const programs = path.join(path.dirname(fileURLToPath(import.meta.url)), 'programs');
const execFileAsync = promisify(execFile);

// Debian's interpreter, which has requests and httpx; the first python3 on PATH may not.
const python = '/usr/bin/python3';

const allowed = 'api.internal.test';
const other = 'other.internal.test';  // resolves to loopback too, but the credential does not allow it
const lab = useLab({ hosts: [allowed, other] });

// 200 only to the real token; the body echoes the path and the Authorization received either way.
const answer = (secret) => (req, res) => {
  const ok = req.headers.authorization === `Bearer ${secret}`;
  const body = JSON.stringify({ path: req.url, authorization: req.headers.authorization ?? null });
  res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};

// A session of its own and a fresh origin for each test (an origin lives as long as the test that starts
// it): API_TOKEN, allowed to `allowed` only.
async function setUp() {
  const { env, session, secrets: { API_TOKEN: secret } } = await lab.sandbox({ tokens: [{ name: 'API_TOKEN', hosts: [allowed] }] });
  const origin = await startHttpsOrigin(lab, answer(secret));
  return { env, session, secret, placeholder: env.API_TOKEN, origin };
}

// Runs one client, `command` and `args(url)`, against /<name> with the sandbox's environment and a fresh
// HOME, and checks everything a client must get right: exit 0, exactly `200\n<echo with the placeholder>\n`
// on stdout, one GET with the real token at the origin, and the real token nowhere on the sandbox's side.
// Resolves with the tool's {code, stdout, stderr}, the sandbox env, the url and the origin.
async function expectClientWorks(name, command, args) {
  const { env, secret, placeholder, origin } = await setUp();
  const home = freshDir(lab, `home-${name}`);
  const url = `https://${allowed}:${origin.port}/${name}`;
  const r = await runTool(command, args(url), { env, home });
  const egress = lab.daemon.log().split('\n').filter((line) => line.includes(' egress ')).slice(-6).join('\n');
  const context = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}\n--- airlock egress log (tail) ---\n${egress}`;
  assert.equal(r.code, 0, context);
  const echoed = JSON.stringify({ path: `/${name}`, authorization: `Bearer ${placeholder}` });
  assert.equal(r.stdout, `200\n${echoed}\n`, context);
  assert.deepEqual(origin.received.map(({ method, url }) => `${method} ${url}`), [`GET /${name}`]);
  assert.equal(origin.received[0].headers.authorization, `Bearer ${secret}`);
  assert.equal(origin.received[0].headers['proxy-authorization'], undefined, 'the proxy credentials reached the origin');
  assertSecretNowhere(lab, secret, { dirs: [home], texts: { stdout: r.stdout, stderr: r.stderr } });
  return { ...r, env, url, origin };
}

lab.test('the sandbox environment carries the placeholder, the proxy and the CA variables, not the token', async () => {
  const { env, secret, placeholder } = await setUp();
  assert.match(placeholder, /^airlock_ph_[A-Za-z0-9]{40}$/);
  assert.match(env.HTTPS_PROXY, /^http:\/\/[^:@/]+:[^@/]+@127\.0\.0\.1:\d+$/);
  assert.equal(env.https_proxy, env.HTTPS_PROXY);
  assert.equal(env.NO_PROXY, 'localhost,127.0.0.1,::1');
  for (const name of ['SSL_CERT_FILE', 'NODE_EXTRA_CA_CERTS', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE']) {
    assert.ok(env[name] && fs.existsSync(env[name]), `${name}=${env[name]}`);
  }
  assert.equal(env.NODE_USE_ENV_PROXY, '1');
  const truststore = path.join(lab.daemon.dataDir, 'ca-truststore.p12');
  assert.equal(env.JAVA_TOOL_OPTIONS, `-Djavax.net.ssl.trustStore=${truststore} ` +
    '-Djavax.net.ssl.trustStorePassword=changeit -Djavax.net.ssl.trustStoreType=PKCS12');
  assert.ok(fs.existsSync(truststore), truststore);
  assert.ok(!JSON.stringify(env).includes(secret));
});

// curl prints the status first, then the body, like the programs.
lab.test('curl', async () => {
  await expectClientWorks('curl', 'sh', (url) => ['-c', 'curl -sS --fail-with-body -o "$HOME/body" ' +
    `-w "%{http_code}\\n" -H "Authorization: Bearer $API_TOKEN" ${url} && cat "$HOME/body" && echo`]);
});

lab.test('Python requests', async () => {
  await expectClientWorks('requests', python, (url) => [path.join(programs, 'get_requests.py'), url]);
});

lab.test('Python httpx', async () => {
  await expectClientWorks('httpx', python, (url) => [path.join(programs, 'get_httpx.py'), url]);
});

// The programs say on stderr which way they reached the proxy: natively where this Node honours
// NODE_USE_ENV_PROXY=1 and the sandbox sets it, through an agent package otherwise (Node 20).
const nativeProxy = (env) => supportsEnvProxy && env.NODE_USE_ENV_PROXY === '1';

lab.test('Node fetch (undici)', async () => {
  const r = await expectClientWorks('fetch', process.execPath, (url) => [path.join(programs, 'get_fetch.mjs'), url]);
  assert.equal(r.stderr, nativeProxy(r.env) ? 'proxy: native (NODE_USE_ENV_PROXY)\n' : 'proxy: undici EnvHttpProxyAgent\n');
});

lab.test('Node https.request', async () => {
  const r = await expectClientWorks('https', process.execPath, (url) => [path.join(programs, 'get_https.mjs'), url]);
  assert.equal(r.stderr, nativeProxy(r.env) ? 'proxy: native (NODE_USE_ENV_PROXY)\n' : 'proxy: https-proxy-agent\n');
});

// Built with our environment (a build cache that outlives the run, so that later runs are fast; no
// network, no toolchain download), run with the sandbox's.
lab.test('Go net/http', async () => {
  const cache = path.join(os.tmpdir(), 'airlock-clients-go');
  const binary = path.join(freshDir(lab, 'go-bin'), 'get');
  await execFileAsync('go', ['build', '-o', binary, '.'], {
    cwd: programs,
    env: { ...process.env, GOCACHE: path.join(cache, 'cache'), GOPATH: path.join(cache, 'path'),
           GOTOOLCHAIN: 'local', GOPROXY: 'off', GOFLAGS: '' },
    timeout: 120_000,
  });
  await expectClientWorks('go', binary, (url) => [url]);
});

// Compiled with our environment, run with the sandbox's. The JVM trusts Airlock's CA only through the
// sandbox's JAVA_TOOL_OPTIONS (its truststore), which it echoes on stderr. The empty
// jdk.http.auth.tunneling.disabledSchemes lets the JDK send Basic proxy credentials on CONNECT (see
// Get.java); without it the tunnel is never opened and the program sees Airlock's 407.
lab.test('Java java.net.http.HttpClient', async () => {
  const classes = freshDir(lab, 'java-classes');
  await execFileAsync('javac', ['-d', classes, path.join(programs, 'Get.java')], { timeout: 60_000 });
  const r = await expectClientWorks('java', 'java', (url) =>
    ['-Djdk.http.auth.tunneling.disabledSchemes=', '-cp', classes, 'Get', url]);
  assert.match(r.env.JAVA_TOOL_OPTIONS ?? '', /^-Djavax\.net\.ssl\.trustStore=\S+\/ca-truststore\.p12 /);
  assert.equal(r.stderr, `Picked up JAVA_TOOL_OPTIONS: ${r.env.JAVA_TOOL_OPTIONS}\n`);

  const home = freshDir(lab, 'home-java-default');
  const refused = await runTool('java', ['-cp', classes, 'Get', r.url], { env: r.env, home });
  assert.equal(refused.code, 1, refused.stderr);
  assert.equal(refused.stdout, '407\nnull\n');  // the JDK hands back the proxy's 407 with no body
  assert.equal(r.origin.received.length, 1);
});

// The credential allows `allowed` only. Airlock's default (proxy.placeholder_violation: block) refuses a
// request that carries the placeholder to any other host, so that origin receives nothing at all: neither
// the token nor the placeholder. (Only with `passthrough` would the placeholder be forwarded unchanged.)
lab.test('a host the credential does not allow gets neither the token nor the placeholder (curl)', async () => {
  const { env, session, secret, origin } = await setUp();
  const home = freshDir(lab, 'home-other');
  const r = await runTool('sh', ['-c', 'curl -sS -w "\\n%{http_code}\\n" -H "Authorization: Bearer $API_TOKEN" ' +
    `https://${other}:${origin.port}/other`], { env, home });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `placeholder_violation: the placeholder of API_TOKEN may not be sent to ${other}; add ` +
    `${other} to that credential's networking.allowed_hosts, or remove the placeholder from the request\n\n403\n`);
  assert.deepEqual(origin.received, []);
  const rows = await lab.egressRows(session, 1);
  assert.deepEqual(rows.map((row) => [row.method, row.host, row.port, row.path, row.status, row.decision, row.reason]),
                   [['GET', other, origin.port, '/other', 403, 'denied', 'placeholder_violation']]);
  assertSecretNowhere(lab, secret, { dirs: [home], texts: { stdout: r.stdout, stderr: r.stderr } });
});
