// npm through Airlock with a private registry token held only as a placeholder: the project's .npmrc says
// `_authToken=${NPM_TOKEN}`, npm expands it from sandbox_env (the placeholder), and the proxy puts the real
// token on the requests to the registry the credential allows. The user's ~/.npmrc names a CA file of its
// own (a company CA): npm then ignores NODE_EXTRA_CA_CERTS, so it must take Airlock's bundle from
// NPM_CONFIG_CAFILE in sandbox_env. registry.internal.test resolves only inside the daemon, so a request
// that did not go through the proxy could not reach the registry at all.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { after } from 'node:test';

import { useLab, runTool, freshDir, assertSecretNowhere } from './lib/lab.mjs';
import { startNpmRegistry } from './lib/npm_registry.mjs';

const kRegistryHost = 'registry.internal.test';
const kOtherHost = 'elsewhere.internal.test';
const kNpmFlags = ['--no-audit', '--no-fund', '--loglevel=error', '--prefer-online'];

const lab = useLab({ hosts: [kRegistryHost, kOtherHost] });
let sandbox;
let registry;

// The session and the registry the first two tests share; made on first use, once the daemon is up (a
// top-level before() would run beside the lab's own, before the daemon is ready).
async function setUp() {
  if (registry) return;
  sandbox = await lab.sandbox({ tokens: [{ name: 'NPM_TOKEN', hosts: [kRegistryHost] }] });
  registry = await startNpmRegistry({ key: lab.certificates.key, cert: lab.certificates.cert,
                                      token: sandbox.secrets.NPM_TOKEN, host: kRegistryHost });
  // A scoped package that depends on an unscoped one: both URL forms of the registry API.
  registry.addPackage({ name: 'exclaim', version: '1.2.0', files: { 'index.js': "module.exports = (s) => `${s}!`;\n" } });
  registry.addPackage({
    name: '@internal/greeter', version: '1.0.0', dependencies: { exclaim: '^1.0.0' },
    files: { 'index.js': "const exclaim = require('exclaim');\nexports.greet = (name) => exclaim(`hello ${name}`);\n" },
  });
}
after(() => registry?.close());

// A HOME whose ~/.npmrc sets a CA file of its own (the origins' CA stands in for a company CA), keeps npm
// from looking for updates, and makes it fail at once rather than retry for a minute and more (so a
// failure is quick, and every request the registry records was made exactly once).
function makeHome(name) {
  const home = freshDir(lab, name);
  fs.writeFileSync(path.join(home, '.npmrc'), [
    `cafile=${lab.certificates.ca}`, 'update-notifier=false', 'fund=false', 'audit=false',
    'fetch-retries=0', 'fetch-timeout=20000', '',
  ].join('\n'));
  return home;
}

// npm with the sandbox's variables only; bounded, so that a hang fails the test instead of stalling it.
const npm = (args, { env, home, cwd }) => runTool('npm', args, { env, home, cwd, timeoutMs: 45_000 });

// The project-level .npmrc: the registry, and its token taken from the environment (npm expands ${...}).
function writeProjectNpmrc(dir) {
  fs.writeFileSync(path.join(dir, '.npmrc'),
    `registry=${registry.url}\n//${kRegistryHost}:${registry.port}/:_authToken=\${NPM_TOKEN}\n`);
}

function makeProject(name, dependencies) {
  const dir = freshDir(lab, name);
  fs.writeFileSync(path.join(dir, 'package.json'),
    JSON.stringify({ name, version: '1.0.0', private: true, dependencies }, null, 2));
  writeProjectNpmrc(dir);
  return dir;
}

const fail = (what, r) => `${what}: exit ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;

lab.test('npm install fetches a private package and its dependency with the real token, a cafile in ~/.npmrc notwithstanding', async () => {
  await setUp();
  const { env, secrets, session } = sandbox;
  const home = makeHome('install-home');
  const project = makeProject('install-app', { '@internal/greeter': '^1.0.0' });

  const r = await npm(['install', ...kNpmFlags], { env, home, cwd: project });
  assert.equal(r.code, 0, fail('npm install', r));

  // Both packages landed, with the registry's content, and work.
  const installed = (pkg) => JSON.parse(fs.readFileSync(path.join(project, 'node_modules', pkg, 'package.json'), 'utf8'));
  assert.equal(installed('@internal/greeter').version, '1.0.0');
  assert.equal(installed('exclaim').version, '1.2.0');
  assert.equal(fs.readFileSync(path.join(project, 'node_modules/exclaim/index.js'), 'utf8'), "module.exports = (s) => `${s}!`;\n");
  const run = await runTool('node', ['-e', "console.log(require('@internal/greeter').greet('npm'))"], { env, home, cwd: project });
  assert.equal(run.code, 0, fail('node', run));
  assert.equal(run.stdout, 'hello npm!\n');

  // The lock file points at the local registry, nowhere else.
  const lock = JSON.parse(fs.readFileSync(path.join(project, 'package-lock.json'), 'utf8'));
  assert.equal(lock.packages['node_modules/@internal/greeter'].resolved, `${registry.url}@internal/greeter/-/greeter-1.0.0.tgz`);
  assert.equal(lock.packages['node_modules/exclaim'].resolved, `${registry.url}exclaim/-/exclaim-1.2.0.tgz`);

  // Every request reached the registry with the real token, and these were all of them.
  assert.deepEqual(registry.received.map((x) => `${x.method} ${x.url}`).sort(), [
    'GET /@internal%2fgreeter',
    'GET /@internal/greeter/-/greeter-1.0.0.tgz',
    'GET /exclaim',
    'GET /exclaim/-/exclaim-1.2.0.tgz',
  ]);
  for (const x of registry.received) assert.equal(x.authorization, `Bearer ${secrets.NPM_TOKEN}`, `${x.method} ${x.url}`);

  // Nothing went anywhere but the registry, and each request used the token in a header.
  const rows = await lab.egressRows(session, 4);
  assert.deepEqual(rows.map((row) => [row.decision, row.host, row.port, row.status,
                                      row.credentials.map((c) => `${c.secret_name}:${c.location}`).join()]),
                   Array(4).fill(['allowed', kRegistryHost, registry.port, 200, 'NPM_TOKEN:header']));

  assertSecretNowhere(lab, secrets.NPM_TOKEN, { dirs: [home, project], texts: { stdout: r.stdout, stderr: r.stderr } });
  assert.ok(fs.existsSync(path.join(home, '.npm/_cacache')), 'npm cached under HOME, where the search above looked');
});

lab.test('npm publish sends the tarball with the real token, and the published package installs', async () => {
  await setUp();
  const { env, secrets, session } = sandbox;
  const home = makeHome('publish-home');
  const pkg = freshDir(lab, 'stamp');
  const indexJs = "module.exports = () => 'stamped';\n";
  fs.writeFileSync(path.join(pkg, 'package.json'),
    JSON.stringify({ name: '@internal/stamp', version: '0.1.0', main: 'index.js', files: ['index.js'] }, null, 2));
  fs.writeFileSync(path.join(pkg, 'index.js'), indexJs);
  writeProjectNpmrc(pkg);
  const seen = registry.received.length;

  const r = await npm(['publish', '--loglevel=error'], { env, home, cwd: pkg });
  assert.equal(r.code, 0, fail('npm publish', r));
  assert.equal(r.stdout, '+ @internal/stamp@0.1.0\n');

  const puts = registry.received.slice(seen).filter((x) => x.method === 'PUT');
  assert.deepEqual(puts.map((x) => [x.url, x.authorization]), [['/@internal%2fstamp', `Bearer ${secrets.NPM_TOKEN}`]]);
  assert.ok(puts[0].bodyBytes > 200, `the PUT carried the tarball (${puts[0].bodyBytes} bytes)`);
  assert.equal(registry.published.length, 1);
  const [published] = registry.published;
  assert.deepEqual([published.name, published.version, published.authorization],
                   ['@internal/stamp', '0.1.0', `Bearer ${secrets.NPM_TOKEN}`]);
  // The tarball went through intact: its index.js is the one on disk.
  const tar = zlib.gunzipSync(published.tarball);
  assert.ok(tar.includes(Buffer.from('package/index.js')), 'the tarball holds package/index.js');
  assert.ok(tar.includes(Buffer.from(indexJs)), 'the tarball holds index.js as written');

  // What was published installs like any other package.
  const project = makeProject('publish-app', { '@internal/stamp': '0.1.0' });
  const install = await npm(['install', ...kNpmFlags], { env, home, cwd: project });
  assert.equal(install.code, 0, fail('npm install', install));
  const run = await runTool('node', ['-e', "console.log(require('@internal/stamp')())"], { env, home, cwd: project });
  assert.equal(run.stdout, 'stamped\n', fail('node', run));

  for (const x of registry.received.slice(seen)) assert.equal(x.authorization, `Bearer ${secrets.NPM_TOKEN}`, `${x.method} ${x.url}`);
  // The session went nowhere but the registry, in this test or the one before.
  const rows = await lab.egressRows(session, registry.received.length);
  assert.equal(rows.length, registry.received.length);
  for (const row of rows) {
    assert.deepEqual([row.decision, row.host, row.port, row.credentials.map((c) => `${c.secret_name}:${c.location}`).join()],
                     ['allowed', kRegistryHost, registry.port, 'NPM_TOKEN:header'], JSON.stringify(row));
  }
  assertSecretNowhere(lab, secrets.NPM_TOKEN, {
    dirs: [home, pkg, project],
    texts: { stdout: r.stdout + install.stdout, stderr: r.stderr + install.stderr },
  });
});

// With the credential allowed for another host only, the placeholder is not swapped toward the registry:
// the proxy refuses the request (403 placeholder_violation, docs/proxy.md) and the registry sees nothing.
lab.test('with the token allowed only for another host, npm install reaches no registry and fails', async () => {
  await setUp();
  const { env, secrets, session } = await lab.sandbox({ tokens: [{ name: 'NPM_TOKEN', hosts: [kOtherHost] }] });
  const home = makeHome('denied-home');
  const project = makeProject('denied-app', { '@internal/greeter': '^1.0.0' });
  const seen = registry.received.length;

  const r = await npm(['install', ...kNpmFlags], { env, home, cwd: project });
  assert.equal(r.code, 1, fail('npm install', r));
  assert.match(r.stderr, /npm error code E403/);
  assert.match(r.stderr, /403 Forbidden - GET https:\/\/registry\.internal\.test:\d+\/@internal%2fgreeter/);
  assert.equal(registry.received.length, seen, 'the registry received no request');
  assert.equal(fs.existsSync(path.join(project, 'node_modules/@internal/greeter')), false);

  const rows = await lab.egressRows(session, 1);
  assert.deepEqual(rows.map((row) => [row.decision, row.reason, row.host, row.status]),
                   [['denied', 'placeholder_violation', kRegistryHost, 403]]);
  assertSecretNowhere(lab, secrets.NPM_TOKEN, { dirs: [home, project], texts: { stdout: r.stdout, stderr: r.stderr } });
});
