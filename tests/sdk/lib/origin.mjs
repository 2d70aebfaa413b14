// A real HTTPS origin for the tests that go through the proxy: a test CA (openssl, P-256, one day), a
// certificate signed by it for metrics.test (or the names given), localhost and 127.0.0.1, and a Node
// https server that answers every request with a JSON echo of what it received, and keeps it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';

// A test CA and a certificate for `names` (and localhost, 127.0.0.1) signed by it (openssl, P-256, one day).
export function makeOriginCertificates(dir, names = ['metrics.test']) {
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key',
      '-out', 'ca.pem', '-days', '1', '-subj', '/CN=Airlock test origin CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'origin.key',
      '-out', 'origin.csr', '-subj', '/CN=localhost');
  fs.writeFileSync(path.join(dir, 'origin.ext'),
    `subjectAltName=${[...names, 'localhost'].map((name) => `DNS:${name}`).join(',')},IP:127.0.0.1\n` +
    'extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  run('x509', '-req', '-in', 'origin.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', 'origin.pem', '-days', '1', '-extfile', 'origin.ext');
  return { ca: path.join(dir, 'ca.pem'), key: fs.readFileSync(path.join(dir, 'origin.key')),
           cert: fs.readFileSync(path.join(dir, 'origin.pem')) };
}

// The origin: answers every request with a JSON echo of what it received, and keeps it.
export async function startOrigin(certificates) {
  const received = [];
  const server = https.createServer({ key: certificates.key, cert: certificates.cert }, (req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const seen = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() };
      received.push(seen);
      const body = JSON.stringify(seen);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: server.address().port, received };
}


// For a test file's top level: certificates in a temp folder and the origin started now, both gone after
// the file's tests. Resolves with {certificates, origin}.
export async function useOrigin(names) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-origin-'));
  const certificates = makeOriginCertificates(dir, names);
  const origin = await startOrigin(certificates);
  after(() => {
    origin.server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { certificates, origin };
}
