// A client that does not trust Airlock's CA must be told so, in the audit and in the log, whichever way it
// rejects the certificate. curl sends an alert (proxy/test/curl_test.cpp); Node.js completes the handshake,
// checks the certificate afterwards and closes the socket without a word, with TLS 1.2 and 1.3 alike.
// The last case is npm behind a company cafile, the report that started this: npm ignores
// NODE_EXTRA_CA_CERTS once a cafile is configured, and the log must say what to set.
import assert from 'node:assert/strict';
import http from 'node:http';
import tls from 'node:tls';

import { freshDir, runTool, startHttpsOrigin, useLab } from './lib/lab.mjs';

const lab = useLab({ hosts: ['api.internal.test'] });

// One CONNECT through the proxy with the session's credentials, then a TLS handshake that trusts only the
// system roots (not Airlock's CA). Resolves with the client's TLS error code.
function distrustingClient(env, port, maxVersion) {
  const proxy = new URL(env.HTTPS_PROXY);
  const auth = Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64');
  return new Promise((resolve, reject) => {
    const request = http.request({ host: proxy.hostname, port: proxy.port, method: 'CONNECT',
                                   path: `api.internal.test:${port}`,
                                   headers: { 'proxy-authorization': `Basic ${auth}` } });
    request.on('connect', (response, socket) => {
      assert.equal(response.statusCode, 200);
      const secure = tls.connect({ socket, servername: 'api.internal.test', maxVersion, ca: tls.rootCertificates });
      secure.on('secureConnect', () => reject(new Error('the handshake succeeded without Airlock\'s CA')));
      secure.on('error', (err) => resolve(err.code));
    });
    request.on('error', reject);
    request.end();
  });
}

const hint = () => 'proxy: client_untrusted_ca: the sandbox rejected Airlock\'s certificate for api.internal.test: it does not trust ' +
  'Airlock\'s CA. Give it the bundle (ca_bundle_pem, SSL_CERT_FILE from sandbox_env); tools with a CA setting of ' +
  'their own need it there too (NODE_EXTRA_CA_CERTS, NPM_CONFIG_CAFILE, PIP_CERT, ...: see docs/proxy.md)';

for (const version of ['TLSv1.2', 'TLSv1.3']) {
  lab.test(`a Node.js client that distrusts the CA (${version}) is audited client_untrusted_ca, and the log says what to give it`, async () => {
    const origin = await startHttpsOrigin(lab, (req, res) => res.end('unreachable'));
    const { env, session } = await lab.sandbox({ tokens: [] });
    const logBefore = lab.daemon.log().split(hint()).length;
    assert.equal(await distrustingClient(env, origin.port, version), 'SELF_SIGNED_CERT_IN_CHAIN');

    const rows = await lab.egressRows(session, 1);
    assert.deepEqual(rows.map((row) => [row.method, row.host, row.port, row.decision, row.reason]),
                     [['CONNECT', 'api.internal.test', origin.port, 'error', 'client_untrusted_ca']]);
    assert.equal(origin.received.length, 0);
    assert.equal(lab.daemon.log().split(hint()).length, logBefore + 1, lab.daemon.logTail(20));
  });
}

lab.test('npm behind a company cafile, without NPM_CONFIG_CAFILE, fails and is audited client_untrusted_ca', async () => {
  const origin = await startHttpsOrigin(lab, (req, res) => res.end('unreachable'));
  const { env, session } = await lab.sandbox({ tokens: [] });
  const home = freshDir(lab, 'npm-home');
  const { NPM_CONFIG_CAFILE: _dropped, ...withoutNpmCa } = env;
  await import('node:fs').then((fs) => fs.writeFileSync(`${home}/.npmrc`,
    `cafile=${lab.certificates.ca}\nfetch-retries=0\nupdate-notifier=false\nfund=false\naudit=false\n`));
  const r = await runTool('npm', ['view', `--registry=https://api.internal.test:${origin.port}/`, 'left-pad', 'version'],
                          { env: withoutNpmCa, home, timeoutMs: 45_000 });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /SELF_SIGNED_CERT_IN_CHAIN/);
  const rows = await lab.egressRows(session, 1);
  assert.deepEqual(rows.map((row) => [row.method, row.decision, row.reason]), [['CONNECT', 'error', 'client_untrusted_ca']]);
});
