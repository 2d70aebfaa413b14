// The two private services of the example, on 127.0.0.1: an npm registry (registry.internal) and a git
// host (git.internal), the stand-ins the client tests use (tests/clients/lib). Each accepts only its real
// token: the registry as `Authorization: Bearer <token>`, the git host as HTTP Basic with the token as
// the password.
//
//   NPM_REAL_TOKEN=... GIT_REAL_TOKEN=... node servers.mjs DIR
//
// DIR holds registry.key/.pem and git.key/.pem (run.sh makes them). Once both listen, DIR/ready gets three
// lines: the registry's port, the git host's port and the path of the git host's bare repository. On
// SIGTERM DIR/received.json gets what each saw: method, URL, status (git only) and whether its
// Authorization was the real token ("real"), absent ("none") or anything else ("other"); never a token.
import fs from 'node:fs';
import path from 'node:path';

import { startGitServer } from '../../tests/clients/lib/git_server.mjs';
import { startNpmRegistry } from '../../tests/clients/lib/npm_registry.mjs';

const dir = process.argv[2];
const npmToken = process.env.NPM_REAL_TOKEN;
const gitToken = process.env.GIT_REAL_TOKEN;
if (!dir || !npmToken || !gitToken) {
  console.error('usage: NPM_REAL_TOKEN=... GIT_REAL_TOKEN=... node servers.mjs DIR (run.sh runs it)');
  process.exit(2);
}
const pem = (name) => fs.readFileSync(path.join(dir, name));

const registry = await startNpmRegistry({
  key: pem('registry.key'), cert: pem('registry.pem'), token: npmToken, host: 'registry.internal',
});
// A scoped package with an unscoped dependency: npm fetches both, through both URL forms of the API.
registry.addPackage({ name: 'exclaim', version: '1.2.0', files: { 'index.js': "module.exports = (s) => `${s}!`;\n" } });
registry.addPackage({
  name: '@internal/greeter', version: '1.0.0', dependencies: { exclaim: '^1.2.0' },
  files: { 'index.js': "const exclaim = require('exclaim');\nexports.greet = (name) => exclaim(`hello ${name}`);\n" },
});

const git = await startGitServer({ key: pem('git.key'), cert: pem('git.pem'), token: gitToken, dir: path.join(dir, 'git') });

// Written whole and then renamed, so that run.sh never reads half of it.
fs.writeFileSync(path.join(dir, 'ready.tmp'), `${registry.port}\n${git.port}\n${git.bare}\n`);
fs.renameSync(path.join(dir, 'ready.tmp'), path.join(dir, 'ready'));

// What an Authorization header was ("real", "none" or "other"), without the header itself.
function whose(authorization, isReal) {
  if (authorization === undefined) return 'none';
  return isReal(authorization) ? 'real' : 'other';
}
const isRegistryToken = (authorization) => authorization === `Bearer ${npmToken}`;
// Basic with the real token as the password, whatever the user name (git sends x-access-token).
const isGitToken = (authorization) => {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(authorization);
  if (!match) return false;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  return decoded.includes(':') && decoded.slice(decoded.indexOf(':') + 1) === gitToken;
};

process.on('SIGTERM', async () => {
  const received = {
    registry: registry.received.map(({ method, url, authorization }) => (
      { method, url, authorization: whose(authorization, isRegistryToken) })),
    git: git.received.map(({ method, url, status, authorization }) => (
      { method, url, status, authorization: whose(authorization, isGitToken) })),
  };
  fs.writeFileSync(path.join(dir, 'received.json'), `${JSON.stringify(received, null, 2)}\n`);
  await Promise.all([registry.close(), git.close()]);
  process.exit(0);
});
