// pip (Debian's, for /usr/bin/python3) against a private index that wants HTTP Basic `__token__:<token>`,
// with the token in the index URL as the shell expands it from the sandbox's environment: a placeholder.
// pip sends it as Basic on every request, Airlock decodes the header, swaps the real token in and
// re-encodes it, and the index sees the real token on every request, including the file downloads and
// the dependency's pages. The real token must then be nowhere on the sandbox's side: pip's output, its
// cache under HOME, the downloaded or installed files, and the daemon's log.
//
// Only the session's sandbox_env is given to pip (proxy and CA variables included): nothing here
// points pip at the proxy or at a CA bundle.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { assertSecretNowhere, freshDir, runTool, useLab } from './lib/lab.mjs';
import { basicAuthorization, kGreeting, startPypiIndex } from './lib/pypi_index.mjs';

const kHost = 'pypi.internal.test';
const lab = useLab({ hosts: [kHost] });

const kWheels = ['lab_greeting-1.0-py3-none-any.whl', 'lab_words-1.0-py3-none-any.whl'];
const kPipFlags = '--disable-pip-version-check --no-input --retries 0 --timeout 20';

// What the index must have seen: the requirement's page and file, then its dependency's, each with the
// real token in Basic (a request that reached the index with the placeholder would show it here).
function expectedRequests(secret) {
  const auth = basicAuthorization('__token__', secret);
  return [
    { method: 'GET', url: '/simple/lab-greeting/', authorization: auth, status: 200 },
    { method: 'GET', url: `/files/${kWheels[0]}`, authorization: auth, status: 200 },
    { method: 'GET', url: '/simple/lab-words/', authorization: auth, status: 200 },
    { method: 'GET', url: `/files/${kWheels[1]}`, authorization: auth, status: 200 },
  ];
}

// A sandbox with PYPI_TOKEN for the index's host, and the index wanting its real value.
async function setUp(t) {
  const { env, secrets, session } = await lab.sandbox({ tokens: [{ name: 'PYPI_TOKEN', hosts: [kHost] }] });
  const index = await startPypiIndex({ ...lab.certificates, token: secrets.PYPI_TOKEN });
  t.after(() => index.close());
  // Single quotes: the shell pip runs under expands ${PYPI_TOKEN}, not this test.
  const indexUrl = `'https://__token__:'"\${PYPI_TOKEN}"'@${kHost}:${index.port}/simple/'`;
  return { env, secret: secrets.PYPI_TOKEN, session, index, indexUrl };
}

// The session's egress audit: the four requests, the token swapped into a header on each.
async function assertAudit(session) {
  const expected = expectedRequests('').map(({ method, url }) => `${method} ${url} 200 allowed PYPI_TOKEN@header`);
  const rows = await lab.egressRows(session, expected.length);
  assert.deepEqual(rows.map(({ method, path: p, status, decision, credentials }) =>
    `${method} ${p} ${status} ${decision} ${credentials.map((c) => `${c.secret_name}@${c.location}`).join(',') || '-'}`),
  expected);
}

// pip redacts the password of the index URL it prints, so neither the placeholder nor the token shows.
function assertRedactedIndexLine(stdout, port, placeholder) {
  assert.equal(stdout.split('\n')[0], `Looking in indexes: https://__token__:****@${kHost}:${port}/simple/`);
  assert.ok(!stdout.includes(placeholder), 'pip printed the placeholder');
}

lab.test('pip download resolves a dependency through an index that wants the token as Basic auth', async (t) => {
  const { env, secret, session, index, indexUrl } = await setUp(t);
  const home = freshDir(lab, 'pip-download-home');
  const dest = freshDir(lab, 'pip-download');

  const r = await runTool('sh', ['-c',
    `/usr/bin/python3 -m pip download ${kPipFlags} --no-cache-dir --dest "$1" --index-url ${indexUrl} lab-greeting`,
    'sh', dest], { env, home });
  assert.equal(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}\n${lab.daemon.logTail(40)}`);
  assert.equal(r.stderr, '');
  assertRedactedIndexLine(r.stdout, index.port, env.PYPI_TOKEN);
  assert.ok(r.stdout.includes(`Saved ${path.join(dest, kWheels[0])}\n`), r.stdout);
  assert.ok(r.stdout.includes(`Saved ${path.join(dest, kWheels[1])}\n`), r.stdout);
  assert.ok(r.stdout.endsWith('Successfully downloaded lab-greeting lab-words\n'), r.stdout);

  // Exactly the index's wheels, byte for byte.
  assert.deepEqual(fs.readdirSync(dest).sort(), kWheels);
  for (const file of kWheels) {
    const sha256 = crypto.createHash('sha256').update(fs.readFileSync(path.join(dest, file))).digest('hex');
    assert.equal(sha256, index.wheels[file].sha256, file);
  }
  assert.deepEqual(index.received, expectedRequests(secret));
  await assertAudit(session);
  // --no-cache-dir: no cache under HOME. (HOME is not empty: pip runs `rustc --version` for its
  // User-Agent, and a rustup shim on PATH writes ~/.rustup/settings.toml.)
  assert.ok(!fs.existsSync(path.join(home, '.cache')), 'pip wrote a cache despite --no-cache-dir');

  assertSecretNowhere(lab, secret, { dirs: [home, dest], texts: { stdout: r.stdout, stderr: r.stderr } });
});

lab.test('pip install --target with its default cache, and the package imports and runs', async (t) => {
  const { env, secret, session, index, indexUrl } = await setUp(t);
  const home = freshDir(lab, 'pip-install-home');
  const target = freshDir(lab, 'pip-target');

  const r = await runTool('sh', ['-c',
    `/usr/bin/python3 -m pip install ${kPipFlags} --target "$1" --index-url ${indexUrl} lab-greeting`,
    'sh', target], { env, home });
  assert.equal(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}\n${lab.daemon.logTail(40)}`);
  assertRedactedIndexLine(r.stdout, index.port, env.PYPI_TOKEN);
  assert.ok(r.stdout.endsWith('Successfully installed lab-greeting-1.0 lab-words-1.0\n'), r.stdout);
  assert.deepEqual(index.received, expectedRequests(secret));
  await assertAudit(session);

  assert.deepEqual(fs.readdirSync(target).sort(),
                   ['lab_greeting', 'lab_greeting-1.0.dist-info', 'lab_words', 'lab_words-1.0.dist-info']);
  // Synchronous, not runTool: a process this short can exit before runTool's stdin write (EPIPE).
  const run = execFileSync('/usr/bin/python3', ['-c',
    `import sys; sys.path.insert(0, ${JSON.stringify(target)}); import lab_greeting; print(lab_greeting.greet("airlock"))`],
  { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: home, LANG: 'C.UTF-8', ...env } });
  assert.equal(run, `${kGreeting}\n`);

  // pip kept the index's answers in its HTTP cache under HOME: that is searched too.
  const cache = path.join(home, '.cache', 'pip');
  assert.ok(fs.existsSync(cache), 'pip wrote no cache under HOME');
  assert.ok(fs.readdirSync(cache).some((entry) => entry.startsWith('http')), `no HTTP cache in ${cache}`);

  assertSecretNowhere(lab, secret, { dirs: [home, target],
                                     texts: { stdout: r.stdout, stderr: r.stderr, run } });
});
