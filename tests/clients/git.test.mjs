// git over smart HTTP against a private host that wants HTTP Basic with the token as the password, the
// token held by the sandbox only as a placeholder: once in the remote URL (as the shell expands it from
// the environment), once from a credential helper that answers with $GIT_TOKEN. Airlock decodes git's
// Basic header, swaps the real token in and re-encodes it; the host sees the real token on every
// authenticated request of the clone and of the push, and the push lands. The real token must be
// nowhere on the sandbox's side: git's output, HOME, the clone (.git/config included), the daemon's log.
// Last, a credential allowed for another host only: Airlock refuses the request that carries its
// placeholder, which never reaches this host.
//
// Only the session's sandbox_env is given to git (proxy and CA variables included), plus settings that
// keep git from prompting or reading the machine's configuration.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { assertSecretNowhere, freshDir, runTool, useLab } from './lib/lab.mjs';
import { kReadme, startGitServer } from './lib/git_server.mjs';
import { basicAuthorization } from './lib/pypi_index.mjs';

const kHost = 'git.internal.test';
const lab = useLab({ hosts: [kHost] });

const kIdentity = ['-c', 'user.name=Lab Sandbox', '-c', 'user.email=sandbox@lab.test'];
// The helper's shell expands $GIT_TOKEN from git's environment: the placeholder.
const kHelper = 'credential.helper=!f() { echo username=x; echo password=$GIT_TOKEN; }; f';
const kTopics = 40;  // enough wanted commits for git to gzip its fetch request
const kBlobBytes = 2 * 1024 * 1024;  // over http.postBuffer (1 MiB): the push body goes chunked

// No prompt (a missing credential fails instead of hanging) and no /etc/gitconfig.
function gitEnv(env) {
  return { ...env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1' };
}

// Local git steps (add, commit, inspection) that do not touch the network, with the same environment as
// the tool under test. Synchronous: runTool's stdin write races a process that exits within a millisecond
// or two (an unhandled EPIPE), which these would.
function gitLocal(args, { env, home, cwd }) {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
                                     env: { PATH: process.env.PATH, HOME: home, LANG: 'C.UTF-8', ...env } });
}

async function setUp(t, { allowedHosts = [kHost], name }) {
  const { env, secrets, session } = await lab.sandbox({ tokens: [{ name: 'GIT_TOKEN', hosts: allowedHosts }] });
  const server = await startGitServer({ ...lab.certificates, token: secrets.GIT_TOKEN,
                                        dir: freshDir(lab, `${name}-server`), branches: kTopics });
  t.after(() => server.close());
  return { env: gitEnv(env), secret: secrets.GIT_TOKEN, session, server, home: freshDir(lab, `${name}-home`),
           clone: path.join(lab.work, `${name}-clone`), base: `${kHost}:${server.port}/org/repo.git` };
}

// The requests the server saw, one line each: what, its status, and whose Basic it carried.
function summary(received, expected) {
  return received.map(({ method, url, status, authorization, contentEncoding, transferEncoding }) => {
    const auth = authorization === undefined ? 'none' : authorization === expected ? 'token' : authorization;
    const encodings = [contentEncoding, transferEncoding].filter(Boolean).map((e) => ` ${e}`).join('');
    return `${method} ${url} ${status} ${auth}${encodings}`;
  });
}

// Clone: the unauthenticated probe that git makes first (curl picks the scheme from the challenge),
// then the authenticated protocol-v2 exchange: capabilities, ls-refs, and the fetch (gzip-encoded: it
// wants kTopics + 1 commits).
const kCloneRequests = [
  'GET /org/repo.git/info/refs?service=git-upload-pack 401 none',
  'GET /org/repo.git/info/refs?service=git-upload-pack 200 token',
  'POST /org/repo.git/git-upload-pack 200 token',
  'POST /org/repo.git/git-upload-pack 200 token gzip',
];
// Push: a new git process, so the probe again; then, the pack being over http.postBuffer, git's small
// probe POST (a flush packet) before the pack itself, sent chunked.
const kPushRequests = [
  'GET /org/repo.git/info/refs?service=git-receive-pack 401 none',
  'GET /org/repo.git/info/refs?service=git-receive-pack 200 token',
  'POST /org/repo.git/git-receive-pack 200 token',
  'POST /org/repo.git/git-receive-pack 200 token chunked',
];

// The clone matches the server's repository: main's commit and README, and every topic branch.
function assertCloned({ env, home, clone, server }) {
  assert.equal(fs.readFileSync(path.join(clone, 'README.md'), 'utf8'), kReadme);
  assert.equal(gitLocal(['rev-parse', 'HEAD'], { env, home, cwd: clone }), `${server.head}\n`);
  const refs = gitLocal(['for-each-ref', '--format=%(refname)', 'refs/remotes/origin/'], { env, home, cwd: clone });
  assert.equal(refs.trim().split('\n').length, kTopics + 2, refs);  // topics, main, HEAD
}

// Commits a text file and a random blob over http.postBuffer, pushes with `extra` git options, and
// checks that the server's main is that commit with those contents. Returns the push's outputs.
async function commitAndPush({ env, home, clone, server }, extra = []) {
  fs.writeFileSync(path.join(clone, 'CHANGE.md'), 'pushed through airlock\n');
  fs.writeFileSync(path.join(clone, 'blob.bin'), crypto.randomBytes(kBlobBytes));
  gitLocal(['add', 'CHANGE.md', 'blob.bin'], { env, home, cwd: clone });
  gitLocal([...kIdentity, 'commit', '--quiet', '-m', 'pushed through airlock'], { env, home, cwd: clone });
  const push = await runTool('git', [...extra, 'push', 'origin', 'HEAD:main'], { env, home, cwd: clone });
  assert.equal(push.code, 0, `${push.stderr}\n${lab.daemon.logTail(40)}`);

  const [commitId, blobId] = gitLocal(['rev-parse', 'HEAD', 'HEAD:blob.bin'], { env, home, cwd: clone }).trim().split('\n');
  assert.equal(server.git(['rev-parse', 'main']), commitId);
  assert.equal(server.git(['log', '--format=%s', '-1', 'main']), 'pushed through airlock');
  assert.equal(server.git(['show', 'main:CHANGE.md']), 'pushed through airlock');
  assert.equal(server.git(['rev-parse', 'main:blob.bin']), blobId);
  assert.equal(server.git(['cat-file', '-s', 'main:blob.bin']), String(kBlobBytes));
  assert.match(push.stderr, new RegExp(`\\n   ${server.head.slice(0, 7)}\\.\\.${commitId.slice(0, 7)}  HEAD -> main\\n$`));
  return push;
}

function outputs(results) {
  const texts = {};
  for (const [name, r] of Object.entries(results)) {
    if (typeof r === 'string') {
      texts[name] = r;
    } else {
      texts[`${name} stdout`] = r.stdout;
      texts[`${name} stderr`] = r.stderr;
    }
  }
  return texts;
}

// The session's egress audit matches what the server saw: the token swapped into a header on every
// authenticated request, on none of the unauthenticated probes.
async function assertAudit({ session }) {
  const rows = await lab.egressRows(session, kCloneRequests.length + kPushRequests.length);
  const swapped = 'GIT_TOKEN@header';
  assert.deepEqual(rows.map(({ method, path: p, status, decision, credentials }) =>
    `${method} ${p} ${status} ${decision} ${credentials.map((c) => `${c.secret_name}@${c.location}`).join(',') || '-'}`), [
    'GET /org/repo.git/info/refs 401 allowed -',
    `GET /org/repo.git/info/refs 200 allowed ${swapped}`,
    `POST /org/repo.git/git-upload-pack 200 allowed ${swapped}`,
    `POST /org/repo.git/git-upload-pack 200 allowed ${swapped}`,
    'GET /org/repo.git/info/refs 401 allowed -',
    `GET /org/repo.git/info/refs 200 allowed ${swapped}`,
    `POST /org/repo.git/git-receive-pack 200 allowed ${swapped}`,
    `POST /org/repo.git/git-receive-pack 200 allowed ${swapped}`,
  ]);
}

lab.test('git clone and push with the token placeholder in the remote URL', async (t) => {
  const ctx = await setUp(t, { name: 'url' });
  const { env, secret, server, home, clone, base } = ctx;

  const cloned = await runTool('sh', ['-c', `git clone "https://x-access-token:\${GIT_TOKEN}@${base}" "$1"`, 'sh', clone],
                               { env, home });
  assert.equal(cloned.code, 0, `${cloned.stderr}\n${lab.daemon.logTail(40)}`);
  assert.equal(cloned.stderr, `Cloning into '${clone}'...\n`);
  assertCloned(ctx);
  // git keeps the URL as given, user info included: the placeholder, which is no secret.
  assert.equal(gitLocal(['config', 'remote.origin.url'], { env, home, cwd: clone }),
               `https://x-access-token:${env.GIT_TOKEN}@${base}\n`);

  const pushed = await commitAndPush(ctx);
  const expected = basicAuthorization('x-access-token', secret);
  assert.deepEqual(summary(server.received, expected), [...kCloneRequests, ...kPushRequests]);

  await assertAudit(ctx);
  assertSecretNowhere(lab, secret, { dirs: [home, clone], texts: outputs({ cloned, pushed }) });
});

lab.test('git clone and push with a credential helper answering the placeholder', async (t) => {
  const ctx = await setUp(t, { name: 'helper' });
  const { env, secret, server, home, clone, base } = ctx;

  const cloned = await runTool('git', ['-c', kHelper, 'clone', `https://${base}`, clone], { env, home });
  assert.equal(cloned.code, 0, `${cloned.stderr}\n${lab.daemon.logTail(40)}`);
  assert.equal(cloned.stderr, `Cloning into '${clone}'...\n`);
  assertCloned(ctx);
  // Nothing of the credential is stored with the clone: the helper was given on the command line.
  const config = fs.readFileSync(path.join(clone, '.git', 'config'), 'utf8');
  assert.ok(config.includes(`\turl = https://${base}\n`), config);
  assert.ok(!config.includes(env.GIT_TOKEN), '.git/config holds the placeholder');

  const pushed = await commitAndPush(ctx, ['-c', kHelper]);
  const expected = basicAuthorization('x', secret);
  assert.deepEqual(summary(server.received, expected), [...kCloneRequests, ...kPushRequests]);
  await assertAudit(ctx);

  assertSecretNowhere(lab, secret, { dirs: [home, clone], texts: outputs({ cloned, pushed }) });
});

// Airlock's default for a placeholder bound for a host its credential does not allow (docs/proxy.md,
// proxy.placeholder_violation: block): the request is refused with 403 before it reaches the host, so
// the host sees neither the token nor the placeholder.
lab.test('a token allowed for another host only: its placeholder is refused, never sent', async (t) => {
  const ctx = await setUp(t, { name: 'other-host', allowedHosts: ['other.internal.test'] });
  const { env, secret, session, server, home, clone, base } = ctx;

  const cloned = await runTool('sh', ['-c', `git clone "https://x-access-token:\${GIT_TOKEN}@${base}" "$1"`, 'sh', clone],
                               { env, home });
  assert.equal(cloned.code, 128, cloned.stderr);
  assert.equal(cloned.stderr,
               `Cloning into '${clone}'...\n` +
               `remote: placeholder_violation: the placeholder of GIT_TOKEN may not be sent to ${kHost}; add ${kHost} ` +
               'to that credential\'s networking.allowed_hosts, or remove the placeholder from the request\n' +
               `fatal: unable to access 'https://${base}/': The requested URL returned error: 403\n`);
  // Only git's first, unauthenticated request got through; the one with the placeholder did not.
  assert.deepEqual(summary(server.received, null), ['GET /org/repo.git/info/refs?service=git-upload-pack 401 none']);
  assert.equal(server.git(['rev-parse', 'main']), server.head);

  const rows = await lab.egressRows(session, 2);
  assert.deepEqual(rows.map(({ method, host, port, path: p, status, decision, reason }) =>
                             ({ method, host, port, path: p, status, decision, reason })), [
    { method: 'GET', host: kHost, port: server.port, path: '/org/repo.git/info/refs', status: 401,
      decision: 'allowed', reason: null },
    { method: 'GET', host: kHost, port: server.port, path: '/org/repo.git/info/refs', status: 403,
      decision: 'denied', reason: 'placeholder_violation' },
  ]);

  assertSecretNowhere(lab, secret, { dirs: [home], texts: outputs({ cloned, rows: JSON.stringify(rows) }) });
});
