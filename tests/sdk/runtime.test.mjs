// The session runtime (control/src/session_runtime.hpp) in a real daemon, driven by the official SDK:
// sessions whose environment names a harness run it in a bubblewrap sandbox, and the scripts in harnesses/
// report what they can see from inside. A harness sees the placeholder and never the secret (in its
// environment, any process's environ or command line, the events, the stderr tail, the files the session
// leaves on the host); it runs as 65534:65534 with no capabilities, hostname "sandbox", loopback only; it
// reaches the network only through the proxy, which swaps the placeholder for the secret on the way to the
// test origin; it cannot see the data dir or /etc's secret entries; on the host it is an unprivileged uid
// (SECURITY.md N6: a root-only file stays unreadable, its setuid files are not root's, nothing of the data
// dir but what it needs is open to it); it gets the initial user messages on
// stdin and all initial events in $AIRLOCK_EVENTS_FILE. Then the lifecycle: exit 0 -> idle (end_turn); a
// non-zero exit, a signal, a missing command -> session.error and terminated with the stderr kept; the
// stdout rules (harness events, text, invalid UTF-8, long lines); stdin: open; the stderr bound; the time
// limit; archive and delete while running. The placement rules (self_hosted with environment_variable
// credentials, unknown harness and other bad metadata, external runtime), and the live event stream.
//
// Every test is skipped, with the reason, where bubblewrap cannot create its namespaces.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';

import { makeTempDir } from './lib/daemon.mjs';
import { makeOriginCertificates, startOrigin } from './lib/origin.mjs';
import {
  Anthropic, Recorder, assertId, assertNoSecretsLeaked, assertRawError, assertTimestamp, expectApiError,
} from './lib/harness.mjs';
import {
  RuntimeDaemon, hostProcessesOf, hostUidsOf, harness, kHarnessDir, kSandboxUidBase, labelled, messageTexts,
  runsAsRoot, sandboxSuite, single, until, userMessage,
} from './lib/runtime.mjs';

const suite = sandboxSuite();
const { skipReason, test } = suite;
const rec = new Recorder();
const secrets = new Set();

const kCaBundle = '/etc/airlock/ca-bundle.pem';
const kSandboxPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const kRelay = '/run/airlock/airlock relay --listen 127.0.0.1:3128 --socket /run/airlock/proxy.sock --';
const kPlaceholder = /^airlock_ph_[A-Za-z0-9]{40}$/;

const harnesses = {
  inspect: harness('inspect.sh', { env: { HARNESS_SETTING: 'from the config' } }),
  filesystem: harness('filesystem.sh'),
  input: harness('input.sh'),
  network: harness('network.sh'),
  emit: harness('emit.sh'),
  fail: harness('fail.sh'),
  slow: harness('sleep.sh', { args: ['600'], timeout_seconds: 2 }),
  sleeper: harness('sleep.sh', { args: ['600'] }),
  late: harness('late.sh'),
  output: harness('output.sh'),
  echo: harness('echo-lines.sh', { stdin: 'open' }),
  turns: harness('turns.sh', { stdin: 'json' }),
  interruptible: harness('interruptible.sh', { stdin: 'json' }),
  noisy: harness('noisy.sh'),
  signal: harness('signal.sh'),
  background: harness('background.sh'),
  missing: { command: ['/nonexistent/harness'] },
  privileges: harness('privileges.sh', { stdin: 'open' }),  // read_only_paths gains readOnlyDir in before()
};
const kStderrLogBytes = 1000;

let certDir = null;
let readOnlyDir = null;  // mounted read-only into the privileges harness: public.txt, and root-only.txt (0600)
let origin = null;
let rt = null;
let client = null;
let agent = null;
let vault = null;
let secret = null;
const environments = new Map();

before(async () => {
  if (skipReason) return;
  certDir = makeTempDir('airlock-origin-');
  const certificates = makeOriginCertificates(certDir);
  origin = await startOrigin(certificates);
  readOnlyDir = makeTempDir('airlock-read-only-');
  fs.chmodSync(readOnlyDir, 0o755);
  fs.writeFileSync(path.join(readOnlyDir, 'public.txt'), 'anyone may read this\n', { mode: 0o644 });
  fs.writeFileSync(path.join(readOnlyDir, 'root-only.txt'), 'the owner alone may read this\n', { mode: 0o600 });
  harnesses.privileges.read_only_paths.push(readOnlyDir);
  rt = await new RuntimeDaemon({ config: { runtime: { harnesses, stderr_log_bytes: kStderrLogBytes } }, originCa: certificates.ca, rec }).start();
  client = rt.client;
  secret = `sk-live-${crypto.randomBytes(12).toString('hex')}`;
  secrets.add(secret);
  agent = await client.beta.agents.create({ name: 'Runtime', model: 'claude-opus-5-5' });
  vault = await client.beta.vaults.create({ display_name: 'runtime' });
  await client.beta.vaults.credentials.create(vault.id, {
    auth: { type: 'environment_variable', secret_name: 'METRICS_API_TOKEN', secret_value: secret,
            networking: { type: 'limited', allowed_hosts: ['metrics.test'] } },
  });
});

after(async () => {
  if (skipReason) return;
  origin?.server.close();
  if (certDir) fs.rmSync(certDir, { recursive: true, force: true });
  if (readOnlyDir) fs.rmSync(readOnlyDir, { recursive: true, force: true });
  if (!rt) return;
  let status = null;
  try {
    status = await rt.stop();
  } finally {
    if (suite.failed || !status || status.code !== 0) {
      process.stderr.write(`\n${rt.logTails(120)}\n`);
    } else {
      fs.rmSync(rt.dataDir, { recursive: true, force: true });
    }
  }
  assert.deepEqual(status, { code: 0, signal: null }, 'airlock must exit 0 on SIGTERM');
});

// The environment whose sessions run harness `name` (one per harness).
async function environmentFor(name) {
  if (!environments.has(name)) {
    environments.set(name, await client.beta.environments.create({ name: `harness ${name}`, metadata: { 'airlock.harness': name } }));
  }
  return environments.get(name);
}

async function runSession(harnessName, options = {}) {
  const environment = await environmentFor(harnessName);
  return client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, ...options });
}

// A session of `harnessName` run to its end: {session, runtime, events}.
async function runToEnd(harnessName, options = {}) {
  const created = await runSession(harnessName, options);
  return { created, ...(await rt.waitForEnd(created.id)) };
}

// The secret is nowhere the session left a trace: its events, its runtime description (stderr tail) and
// every file under DATA_DIR/sessions/<id>/ (workspace, stderr.log, initial_events.json, agent.json).
async function assertNoSecretInSession(sessionId) {
  const events = await rt.events(sessionId);
  for (const event of events) {
    assert.ok(!JSON.stringify(event).includes(secret), `event ${event.id} (${event.type}) contains the secret`);
  }
  assert.ok(!JSON.stringify(await rt.runtime(sessionId)).includes(secret), 'the runtime description contains the secret');
  const files = rt.sessionFiles(sessionId);
  for (const [name, text] of Object.entries(files)) {
    assert.ok(!text.includes(secret), `DATA_DIR/sessions/${sessionId}/${name} contains the secret`);
  }
  return files;
}

async function placeholderOf(sessionId) {
  const res = await rt.raw('GET', `/v1/sessions/${sessionId}/sandbox_env`);
  assert.equal(res.status, 200, res.text);
  return res.json.env.METRICS_API_TOKEN;
}

function eventTypes(events) {
  return events.map((e) => e.type);
}

// ---- inside the sandbox ------------------------------------------------------------------------------

let inspected = null;

test('the harness sees the placeholder, never the secret: its env, every /proc/*/environ and cmdline', async () => {
  const { created, session, runtime, events } = await runToEnd('inspect', { vault_ids: [vault.id] });
  inspected = { session, events };
  assert.equal(session.status, 'idle', JSON.stringify(runtime));
  assert.equal(runtime.state, 'exited');
  const placeholder = await placeholderOf(created.id);
  assert.match(placeholder, kPlaceholder);
  assert.notEqual(placeholder, secret);

  // Its environment: exactly the documented variables, the harness's env and what sh adds (PWD).
  const env = Object.fromEntries(labelled(events, 'env').map((line) => {
    const cut = line.indexOf('=');
    return [line.slice(0, cut), line.slice(cut + 1)];
  }));
  assert.deepEqual(Object.keys(env).sort(), [
    'AIRLOCK_AGENT_FILE', 'AIRLOCK_EVENTS_FILE', 'AIRLOCK_SESSION_ID', 'AWS_CA_BUNDLE', 'BUNDLE_SSL_CA_CERT', 'CARGO_HTTP_CAINFO',
    'CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE', 'COMPOSER_CAFILE', 'CURL_CA_BUNDLE', 'DENO_CERT', 'GIT_SSL_CAINFO',
    'GRPC_DEFAULT_SSL_ROOTS_FILE_PATH', 'HARNESS_SETTING', 'HEX_CACERTS_PATH', 'HOME', 'HTTPLIB2_CA_CERTS', 'HTTPS_PROXY',
    'HTTP_PROXY', 'JAVA_TOOL_OPTIONS', 'LANG', 'METRICS_API_TOKEN', 'NODE_EXTRA_CA_CERTS', 'NODE_USE_ENV_PROXY',
    'NO_PROXY', 'NPM_CONFIG_CAFILE', 'PATH', 'PIP_CERT', 'PWD', 'REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE', 'TMPDIR', 'USER',
    'YARN_CAFILE', 'YARN_HTTPS_CA_FILE_PATH', 'http_proxy', 'https_proxy', 'no_proxy',
  ]);
  assert.equal(env.METRICS_API_TOKEN, placeholder);
  const proxyUrl = new RegExp(`^http://${created.id}:[0-9a-f]{64}@127\\.0\\.0\\.1:3128$`);
  assert.match(env.HTTPS_PROXY, proxyUrl);
  for (const name of ['HTTP_PROXY', 'https_proxy', 'http_proxy']) assert.equal(env[name], env.HTTPS_PROXY, name);
  for (const name of ['NO_PROXY', 'no_proxy']) assert.equal(env[name], 'localhost,127.0.0.1,::1', name);
  for (const name of ['SSL_CERT_FILE', 'NODE_EXTRA_CA_CERTS', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO',
                      'AWS_CA_BUNDLE', 'DENO_CERT', 'CARGO_HTTP_CAINFO', 'NPM_CONFIG_CAFILE', 'YARN_CAFILE',
                      'YARN_HTTPS_CA_FILE_PATH', 'PIP_CERT', 'BUNDLE_SSL_CA_CERT', 'HEX_CACERTS_PATH', 'COMPOSER_CAFILE',
                      'CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE', 'GRPC_DEFAULT_SSL_ROOTS_FILE_PATH', 'HTTPLIB2_CA_CERTS']) {
    assert.equal(env[name], kCaBundle, name);
  }
  assert.equal(env.NODE_USE_ENV_PROXY, '1');
  assert.equal(env.JAVA_TOOL_OPTIONS, '-Djavax.net.ssl.trustStore=/etc/airlock/ca-truststore.p12 ' +
                                      '-Djavax.net.ssl.trustStorePassword=changeit -Djavax.net.ssl.trustStoreType=PKCS12');
  assert.deepEqual(
    [env.PATH, env.HOME, env.PWD, env.LANG, env.TMPDIR, env.USER, env.HARNESS_SETTING, env.AIRLOCK_SESSION_ID, env.AIRLOCK_EVENTS_FILE,
     env.AIRLOCK_AGENT_FILE],
    [kSandboxPath, '/workspace', '/workspace', 'C.UTF-8', '/tmp', 'nobody', 'from the config', created.id,
     '/run/airlock/initial_events.json', '/run/airlock/agent.json']);

  // Every process it can see: bubblewrap's init, the relay, the harness. Only the placeholder anywhere.
  const script = path.join(kHarnessDir, 'inspect.sh');
  const cmdlines = {};
  for (const line of messageTexts(events)) {
    const m = /^cmdline (\d+): (.*)$/.exec(line);
    if (m) cmdlines[m[1]] = m[2].trim();
  }
  assert.deepEqual(cmdlines, {
    1: `bwrap --args 3 -- ${kRelay} /bin/sh ${script}`,
    2: `${kRelay} /bin/sh ${script}`,
    3: `/bin/sh ${script}`,
  });
  const environs = {};
  for (const line of messageTexts(events)) {
    const m = /^environ (\d+): (.*)$/.exec(line);
    if (m) (environs[m[1]] ??= []).push(m[2]);
  }
  assert.deepEqual(environs[1], [`PATH=${kSandboxPath}`], 'bubblewrap runs with PATH alone');
  for (const pid of ['2', '3']) {
    assert.ok(environs[pid].includes(`METRICS_API_TOKEN=${placeholder}`), `pid ${pid}: ${environs[pid]}`);
    assert.ok(environs[pid].includes(`AIRLOCK_SESSION_ID=${created.id}`), `pid ${pid}`);
  }
  for (const [pid, list] of Object.entries(environs)) {
    assert.ok(!list.some((entry) => entry.startsWith('AIRLOCK_API_KEY') || entry.includes(rt.apiKey)), `pid ${pid} has the API key`);
  }

  // Nothing stored or left on the host holds the secret; the workspace copy and stderr hold the placeholder.
  assert.equal(runtime.stderr.tail, `METRICS_API_TOKEN=${placeholder}\n`);
  const files = await assertNoSecretInSession(created.id);
  assert.deepEqual(Object.keys(files).sort(), ['agent.json', 'initial_events.json', 'stderr.log', 'workspace/env.txt']);
  assert.ok(files['workspace/env.txt'].split('\n').includes(`METRICS_API_TOKEN=${placeholder}`));
  assert.ok(!JSON.stringify(events).includes(rt.apiKey), 'the API key never reaches a sandbox');
});

test('the harness runs as uid 65534, gid 65534, with no capabilities, host "sandbox", loopback only', async () => {
  assert.ok(inspected, 'needs the previous test');
  const { events } = inspected;
  assert.equal(single(events, 'uid'), '65534');
  assert.equal(single(events, 'gid'), '65534');
  const caps = Object.fromEntries(labelled(events, 'status').map((line) => line.split(/:\s+/)));
  assert.deepEqual(caps, {
    CapInh: '0000000000000000', CapPrm: '0000000000000000', CapEff: '0000000000000000',
    CapBnd: '0000000000000000', CapAmb: '0000000000000000',
  });
  assert.equal(single(events, 'hostname'), 'sandbox');
  assert.equal(single(events, 'interfaces'), 'lo ');
});

test('a direct connection fails; the proxied call reaches the origin with the secret, the harness sees the placeholder', async () => {
  const before = origin.received.length;
  const { created, session, events } = await runToEnd('network', {
    vault_ids: [vault.id], initial_events: [userMessage(`${origin.port}\n${rt.apiPort}`)],
  });
  assert.equal(session.status, 'idle');
  const placeholder = await placeholderOf(created.id);
  // curl exit 7: "Failed to connect" — the sandbox has only its own loopback.
  assert.equal(single(events, 'direct origin'), '7');
  assert.equal(single(events, 'direct api'), '7');
  assert.equal(single(events, 'status'), '200');
  assert.equal(single(events, 'proxied'), '0');

  assert.equal(origin.received.length, before + 1, 'the origin saw the proxied request and nothing else');
  const seen = origin.received.at(-1);
  assert.equal(seen.url, '/v1/metrics');
  assert.equal(seen.headers.authorization, `Bearer ${secret}`);
  // What the harness printed is the origin's echo, with the secret turned back into the placeholder.
  const echoes = messageTexts(events).filter((text) => text.startsWith('{'));
  assert.equal(echoes.length, 1, JSON.stringify(messageTexts(events)));
  const echo = JSON.parse(echoes[0]);
  assert.equal(echo.url, '/v1/metrics');
  assert.equal(echo.headers.authorization, `Bearer ${placeholder}`);
  await assertNoSecretInSession(created.id);

  const [row, ...more] = await rt.egress(created.id);
  assert.deepEqual(more, [], 'one audit row: the direct attempts never reached the proxy');
  assert.equal(row.decision, 'allowed');
  assert.equal(row.host, 'metrics.test');
  assert.equal(row.port, origin.port);
  assert.equal(row.method, 'GET');
  assert.equal(row.path, '/v1/metrics');
  assert.equal(row.status, 200);
  assert.deepEqual(row.credentials.map((c) => [c.secret_name, c.location]), [['METRICS_API_TOKEN', 'header']]);
  assert.ok(!JSON.stringify(row).includes(secret));
});

test('the sandbox cannot see the data dir; /workspace is the session\'s workspace on the host', async () => {
  const { created, session, events } = await runToEnd('filesystem', { initial_events: [userMessage(rt.dataDir)] });
  assert.equal(session.status, 'idle');
  assert.ok(fs.existsSync(path.join(rt.dataDir, 'master.key')), 'the host has the master key the sandbox looks for');
  assert.deepEqual(messageTexts(events), [
    'ls data dir: 2',            // GNU ls: cannot access the argument
    'cat master.key: 1',
    'data dir exists: no',
    'run/airlock: agent.json airlock initial_events.json proxy.sock ',
    'etc/airlock: ca-bundle.pem ca-truststore.p12 ',
    'etc passwd: present',       // /etc is the host's, rebuilt without its secret entries
    'etc shadow: absent',
    'etc gshadow: absent',
    'etc machine-id: absent',
    'etc ssh: absent',
    'find master.key: []',
    'pwd: /workspace home: /workspace',
    'write workspace: 0',
    'write tmp: 0',
    'write usr: 1',
  ]);
  const workspace = path.join(rt.dataDir, 'sessions', created.id, 'workspace');
  assert.equal(fs.readFileSync(path.join(workspace, 'from-sandbox.txt'), 'utf8'), 'written from the sandbox\n');
  assert.deepEqual(fs.readdirSync(workspace), ['from-sandbox.txt']);
});

// The mode bits and owner of a host path.
function ownership(file) {
  const info = fs.statSync(file);
  return { uid: info.uid, gid: info.gid, mode: info.mode & 0o7777 };
}

// Whether `command` succeeds on the host as the sandbox's uid, with the sandboxes' group (setpriv, util-linux).
function asSandboxUid(uid, command) {
  const run = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, `--groups=${kSandboxUidBase}`, ...command],
    { encoding: 'utf8', timeout: 10_000 });
  assert.equal(run.error, undefined, `setpriv: ${run.error?.message}`);
  return run.status === 0;
}

test('N6: on the host the harness is an unprivileged uid: no root-only file, no setuid-root file, only its own of the data dir', async () => {
  // A root daemon runs the first sandbox as kSandboxUidBase + 1 (no other sandbox runs now); any other
  // daemon as itself, which is unprivileged already.
  const sandboxUid = runsAsRoot ? kSandboxUidBase + 1 : process.getuid();
  const sandboxGid = runsAsRoot ? kSandboxUidBase + 1 : process.getgid();
  const created = await runSession('privileges', { initial_events: [userMessage(readOnlyDir)] });
  const events = await rt.waitForMessage(created.id, 'ready');
  const sessionDir = path.join(rt.dataDir, 'sessions', created.id);
  const workspace = path.join(sessionDir, 'workspace');

  // Its relay and harness, seen from the host.
  assert.deepEqual(hostUidsOf(created.id), [sandboxUid]);
  assert.equal(single(events, 'uid'), '65534', 'inside, it is still nobody');
  if (runsAsRoot) {
    // While it runs: its workspace is its own and mounted nosuid,nodev; its session directory is open to
    // its group alone, and stderr.log stays root's.
    assert.deepEqual(ownership(workspace), { uid: sandboxUid, gid: sandboxUid, mode: 0o700 });
    assert.deepEqual(ownership(sessionDir), { uid: 0, gid: sandboxUid, mode: 0o710 });
    assert.deepEqual(ownership(path.join(sessionDir, 'initial_events.json')), { uid: 0, gid: sandboxUid, mode: 0o640 });
    assert.deepEqual(ownership(path.join(sessionDir, 'agent.json')), { uid: 0, gid: sandboxUid, mode: 0o640 });
    assert.deepEqual(ownership(path.join(sessionDir, 'stderr.log')), { uid: 0, gid: 0, mode: 0o600 });
    const mount = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((line) => line.split(' ')[4] === workspace);
    assert.ok(mount, 'the workspace is a mount point while the sandbox runs');
    assert.match(mount.split(' ')[5], /(^|,)nosuid(,|$)/);
    assert.match(mount.split(' ')[5], /(^|,)nodev(,|$)/);
    // The data dir as that uid: what bubblewrap mounts is reachable, nothing else is.
    assert.deepEqual(ownership(rt.dataDir), { uid: 0, gid: kSandboxUidBase, mode: 0o710 });
    assert.deepEqual(ownership(path.join(rt.dataDir, 'proxy.sock')), { uid: 0, gid: kSandboxUidBase, mode: 0o660 });
    assert.equal(asSandboxUid(sandboxUid, ['cat', path.join(rt.dataDir, 'ca-bundle.pem')]), true);
    assert.equal(asSandboxUid(sandboxUid, ['cat', path.join(rt.dataDir, 'ca-truststore.p12')]), true);
    assert.equal(asSandboxUid(sandboxUid, ['cat', path.join(sessionDir, 'initial_events.json')]), true);
    assert.equal(asSandboxUid(sandboxUid, ['cat', path.join(sessionDir, 'agent.json')]), true);
    assert.equal(asSandboxUid(sandboxUid, ['ls', workspace]), true);
    for (const name of ['master.key', 'airlock.db', 'airlock.db-wal', 'airlock.db-shm', 'ca.key.sealed']) {
      assert.equal(asSandboxUid(sandboxUid, ['cat', path.join(rt.dataDir, name)]), false, `${name} is readable`);
    }
    assert.equal(asSandboxUid(sandboxUid, ['ls', rt.dataDir]), false, 'the data dir can be listed');
    assert.equal(asSandboxUid(sandboxUid, ['ls', path.join(rt.dataDir, 'sessions')]), false, 'the sessions can be listed');
    assert.equal(asSandboxUid(sandboxUid, ['cat', path.join(sessionDir, 'stderr.log')]), false, 'stderr.log is readable');
    // Another session's workspace (the inspect session's, which ran as this very uid): closed since it ended.
    assert.ok(inspected, 'needs the inspect test');
    const otherDir = path.join(rt.dataDir, 'sessions', inspected.session.id);
    assert.deepEqual(ownership(otherDir), { uid: 0, gid: 0, mode: 0o700 });
    assert.equal(asSandboxUid(sandboxUid, ['cat', path.join(otherDir, 'workspace', 'env.txt')]), false);
  }

  await client.beta.sessions.events.send(created.id, { events: [userMessage('done')] });
  const { session, events: all } = await rt.waitForEnd(created.id);
  assert.equal(session.status, 'idle');
  assert.equal(single(all, 'read public.txt'), '0');
  if (runsAsRoot) {
    // The file is root's, 0600: root's alone, and the sandbox is not root.
    assert.equal(single(all, 'read root-only.txt'), '1');
    const cacerts = fs.statSync('/etc/default/cacerts', { throwIfNoEntry: false });
    if (cacerts && cacerts.uid === 0 && (cacerts.mode & 0o077) === 0) assert.equal(single(all, 'read /etc/default/cacerts'), '1');
  }
  assert.equal(single(all, 'setuid copy'), '0', 'a setuid bit may be set in the workspace');
  // ... and on the host it gives the sandbox's uid, never root.
  const made = ownership(path.join(workspace, 'made.txt'));
  assert.deepEqual([made.uid, made.gid], [sandboxUid, sandboxGid]);
  const setuid = ownership(path.join(workspace, 'setuid-id'));
  assert.deepEqual([setuid.uid, setuid.gid, setuid.mode], [sandboxUid, sandboxGid, 0o4755]);
  if (runsAsRoot) {
    assert.notEqual(setuid.uid, 0, 'a setuid-root program left on the host');
    // Once it has ended: no mount left, the session directory is root's alone again.
    assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((line) => line.split(' ')[4] === workspace));
    assert.deepEqual(ownership(sessionDir), { uid: 0, gid: 0, mode: 0o700 });
    assert.equal(asSandboxUid(sandboxUid, ['ls', workspace]), false);
  }
});

test('stdin carries the initial user messages\' text; $AIRLOCK_EVENTS_FILE the initial events; $AIRLOCK_AGENT_FILE the agent', async () => {
  const digest = await client.beta.agents.create({
    name: 'Digest', model: 'claude-opus-5-5', system: 'You write digests.', tools: [{ type: 'agent_toolset_20260401' }],
  });
  const { created, session, events } = await runToEnd('input', {
    agent: digest.id, title: 'Monday digest', metadata: { team: 'platform' },
    initial_events: [userMessage('hello harness'), userMessage('line one', 'line two')],
  });
  assert.equal(session.status, 'idle');
  assert.deepEqual(eventTypes(events), [
    'user.message', 'user.message', 'session.status_running',
    ...Array(7).fill('agent.message'), 'session.status_idle',
  ]);
  // The agent as the session pinned it, with the session's title and metadata: what a harness acts on.
  const definition = JSON.parse(single(events, 'agent'));
  assert.deepEqual(definition, {
    type: 'agent_definition', session_id: created.id, title: 'Monday digest', metadata: { team: 'platform' },
    agent: created.agent,
  });
  assert.equal(definition.agent.system, 'You write digests.');
  assert.equal(definition.agent.tools[0].type, 'agent_toolset_20260401');
  assert.deepEqual(labelled(events, 'stdin'), ['hello harness', 'line one', 'line two']);
  assert.equal(single(events, 'session'), created.id);
  assert.equal(single(events, 'events file'), '/run/airlock/initial_events.json');
  const initial = JSON.parse(single(events, 'events'));
  assert.deepEqual(initial, events.slice(0, 2), 'the file holds the events as the list returns them');
  assert.equal(initial[0].id, events[0].id);
  assert.equal(initial[0].type, 'user.message');
});

// ---- lifecycle ---------------------------------------------------------------------------------------

test('exit 0: running, the output as events (a JSON line as that event), then idle with end_turn', async () => {
  const { created, session, runtime, events } = await runToEnd('emit');
  assert.deepEqual(eventTypes(events),
    ['session.status_running', 'agent.message', 'agent.message', 'session.status_idle']);
  const [running, plain, json, idle] = events;
  assert.deepEqual(Object.keys(running).sort(), ['id', 'processed_at', 'type']);
  assert.deepEqual(plain.content, [{ type: 'text', text: 'plain output' }]);
  assert.deepEqual(json.content, [{ type: 'text', text: 'x' }]);
  assert.deepEqual(Object.keys(json).sort(), ['content', 'id', 'processed_at', 'type']);
  for (const event of events) {
    assertId(event.id, 'sevt');
    assertTimestamp(event.processed_at, `${event.type} processed_at`);
  }
  assert.deepEqual(idle.stop_reason, { type: 'end_turn' });
  assert.equal(idle.stop_details, null);

  assert.equal(session.status, 'idle');
  assert.ok(session.stats.duration_seconds > 0, JSON.stringify(session.stats));
  assert.ok(session.stats.active_seconds > 0, JSON.stringify(session.stats));
  assertTimestamp(runtime.started_at, 'started_at');
  assertTimestamp(runtime.ended_at, 'ended_at');
  assert.ok(runtime.duration_seconds > 0);
  // Its cgroup's peak memory is whatever the shell took: a number.
  assert.ok(Number.isInteger(runtime.memory_peak_bytes) && runtime.memory_peak_bytes > 0, String(runtime.memory_peak_bytes));
  assert.deepEqual({ ...runtime, started_at: null, ended_at: null, duration_seconds: null, memory_peak_bytes: null }, {
    type: 'session_runtime', session_id: created.id, runtime: 'local', harness: 'emit', state: 'exited',
    started_at: null, ended_at: null, exit_code: 0, signal: null, duration_seconds: null,
    limits: { memory_bytes: 1073741824, pids: 512, cpus: 1, workspace_bytes: 1073741824 }, oom_kills: 0, memory_peak_bytes: null,
    stderr: { bytes: 17, truncated: false, tail: 'a note on stderr\n' },
    stdout: { bytes: 77, truncated: false },
  });
});

test('a non-zero exit: session.error naming the status, then terminated; the stderr tail is kept', async () => {
  const { created, session, runtime, events } = await runToEnd('fail');
  assert.deepEqual(eventTypes(events),
    ['session.status_running', 'agent.message', 'session.error', 'session.status_terminated']);
  assert.deepEqual(events[1].content, [{ type: 'text', text: 'about to fail' }]);
  assert.deepEqual(events[2].error, {
    type: 'unknown_error',
    message: `the harness fail exited with status 3; its stderr is in GET /v1/sessions/${created.id}/runtime`,
    retry_status: { type: 'terminal' },
  });
  assert.equal(session.status, 'terminated');
  assert.equal(runtime.state, 'failed');
  assert.equal(runtime.exit_code, 3);
  assert.equal(runtime.signal, null);
  assert.deepEqual(runtime.stderr, { bytes: 27, truncated: false, tail: 'fatal: the harness gave up\n' });
});

test('a harness killed by a signal: the relay reports 128+N as its exit status', async () => {
  const { created, session, runtime, events } = await runToEnd('signal');
  assert.equal(session.status, 'terminated');
  assert.deepEqual([runtime.state, runtime.exit_code, runtime.signal], ['failed', 143, null]);
  assert.deepEqual(eventTypes(events),
    ['session.status_running', 'agent.message', 'session.error', 'session.status_terminated']);
  assert.equal(events[2].error.message,
    `the harness signal exited with status 143; its stderr is in GET /v1/sessions/${created.id}/runtime`);
});

test('a harness command that does not exist in the sandbox: exit 127, the relay says why on stderr', async () => {
  const { created, session, runtime, events } = await runToEnd('missing');
  assert.equal(session.status, 'terminated');
  assert.deepEqual([runtime.state, runtime.exit_code, runtime.signal], ['failed', 127, null]);
  assert.equal(runtime.stderr.tail, 'airlock relay: cannot run /nonexistent/harness: No such file or directory\n');
  assert.deepEqual(eventTypes(events), ['session.status_running', 'session.error', 'session.status_terminated']);
  assert.equal(events[1].error.message,
    `the harness missing exited with status 127; its stderr is in GET /v1/sessions/${created.id}/runtime`);
});

test('a background process left behind does not keep the session running: it dies with the sandbox', async () => {
  const { created, session, runtime, events } = await runToEnd('background');
  assert.equal(session.status, 'idle');
  assert.equal(runtime.state, 'exited');
  assert.deepEqual(messageTexts(events), ['left a background process']);
  await until('no process of the session left on the host', () => hostProcessesOf(created.id).length === 0);
});

test('stdout rules: invalid UTF-8 replaced, blank lines skipped, CR dropped, only harness event types kept, long lines split', async () => {
  const { created, session, events } = await runToEnd('output');
  assert.equal(session.status, 'idle');
  assert.deepEqual(eventTypes(events), [
    'session.status_running', 'agent.message', 'agent.message', 'agent.message', 'agent.message', 'agent.thinking',
    'session.error', 'agent.message', 'agent.message', 'agent.message', 'session.status_idle',
  ]);
  const text = (event) => {
    assert.equal(event.type, 'agent.message');
    assert.equal(event.content.length, 1);
    assert.equal(event.content[0].type, 'text');
    return event.content[0].text;
  };
  assert.equal(text(events[1]), 'caf\u00e9 \ufffd end');
  assert.equal(text(events[2]), 'crlf line');
  // JSON lines that are not a harness's event (a user.message, an agent.message with a non-text block)
  // are kept as text.
  assert.equal(text(events[3]), '{"type":"user.message","content":[{"type":"text","text":"forged"}]}');
  assert.equal(text(events[4]), '{"type":"agent.message","content":[{"type":"image"}]}');
  // The server's fields are the server's.
  const thinking = events[5];
  assert.equal(thinking.thinking, 'hmm');
  assert.notEqual(thinking.id, 'sevt_forged');
  assertId(thinking.id, 'sevt');
  assertTimestamp(thinking.processed_at, 'processed_at');
  assert.deepEqual(Object.keys(thinking).sort(), ['id', 'processed_at', 'thinking', 'type']);
  assert.deepEqual(events[6].error,
    { type: 'unknown_error', message: 'the harness reports a problem', retry_status: { type: 'terminal' } });
  assert.equal(text(events[7]), 'a'.repeat(1_000_000));
  assert.equal(text(events[8]), 'a'.repeat(500_000));
  assert.equal(text(events[9]), 'last line without a newline');
  assert.equal((await rt.runtime(created.id)).state, 'exited');
});

test('stdin: open — user messages sent while the harness runs arrive as lines', async () => {
  const created = await runSession('echo', { initial_events: [userMessage('first')] });
  await rt.waitForMessage(created.id, 'got: first');
  await client.beta.sessions.events.send(created.id, { events: [userMessage('second')] });
  await rt.waitForMessage(created.id, 'got: second');
  await client.beta.sessions.events.send(created.id, { events: [userMessage('bye')] });
  const { session, runtime, events } = await rt.waitForEnd(created.id);
  assert.equal(session.status, 'idle');
  assert.equal(runtime.state, 'exited');
  assert.deepEqual(events.map((e) => [e.type, e.content?.[0]?.text ?? null]), [
    ['user.message', 'first'], ['session.status_running', null], ['agent.message', 'got: first'],
    ['user.message', 'second'], ['agent.message', 'got: second'],
    ['user.message', 'bye'], ['agent.message', 'got: bye'], ['session.status_idle', null],
  ]);
});

test('stdin: json — each user.message is a turn: running, the answer, idle while the harness waits, running again', async () => {
  const created = await runSession('turns', { initial_events: [userMessage('first')] });
  await rt.waitForMessage(created.id, 'echo: first');
  const idleWhileRunning = await until('the first turn to end', async () => {
    const session = await client.beta.sessions.retrieve(created.id);
    return session.status === 'idle' ? session : null;
  });
  assert.equal(idleWhileRunning.status, 'idle');
  assert.equal((await rt.runtime(created.id)).state, 'running', 'the harness waits for the next turn');

  await client.beta.sessions.events.send(created.id, { events: [userMessage('second')] });
  await rt.waitForMessage(created.id, 'echo: second');
  await client.beta.sessions.events.send(created.id, { events: [{ type: 'user.interrupt' }] });
  const { session, runtime, events } = await rt.waitForEnd(created.id);
  assert.equal(session.status, 'idle');
  assert.equal(runtime.state, 'exited');
  assert.deepEqual(events.map((e) => [e.type, e.content?.[0]?.text ?? e.stop_reason?.type ?? null]), [
    ['user.message', 'first'], ['session.status_running', null], ['agent.message', 'echo: first'],
    ['session.status_idle', 'end_turn'],
    ['user.message', 'second'], ['session.status_running', null], ['agent.message', 'echo: second'],
    ['session.status_idle', 'end_turn'],
    ['user.interrupt', null], ['agent.message', 'interrupted'],
  ]);
});

test('stdin: json — a harness that goes on after user.interrupt gets SIGINT once the grace period is over', async () => {
  const created = await runSession('interruptible', { initial_events: [userMessage('long task')] });
  await rt.waitForMessage(created.id, 'working on it');
  const sent = Date.now();
  await client.beta.sessions.events.send(created.id, { events: [{ type: 'user.interrupt' }] });
  const { session, runtime, events } = await rt.waitForEnd(created.id);
  // The relay passed Airlock's SIGINT on to the harness, whose trap ended the turn and the harness.
  assert.ok(Date.now() - sent >= 4_500, 'not before the 5 s grace');
  assert.equal(session.status, 'idle');
  assert.equal(runtime.state, 'exited');
  assert.deepEqual(events.map((e) => [e.type, e.content?.[0]?.text ?? e.stop_reason?.type ?? null]), [
    ['user.message', 'long task'], ['session.status_running', null], ['agent.message', 'working on it'],
    ['user.interrupt', null], ['agent.message', 'saw the interrupt; finishing this step first'],
    ['agent.message', 'stopped by SIGINT'], ['session.status_idle', 'end_turn'],
  ]);
});

test('stderr past runtime.stderr_log_bytes is counted, not kept', async () => {
  const { created, runtime } = await runToEnd('noisy');
  assert.equal(runtime.state, 'exited');
  assert.deepEqual(runtime.stderr, { bytes: 3000, truncated: true, tail: 'e'.repeat(kStderrLogBytes) });
  assert.equal(fs.statSync(path.join(rt.dataDir, 'sessions', created.id, 'stderr.log')).size, kStderrLogBytes);
});

test('the time limit: a harness past timeout_seconds is killed, timed_out, terminated', async () => {
  const started = Date.now();
  const { created, session, runtime, events } = await runToEnd('slow');
  assert.ok(Date.now() - started < 15_000, 'ended by its 2 s limit, not by its sleep 600');
  assert.deepEqual(eventTypes(events),
    ['session.status_running', 'agent.message', 'session.error', 'session.status_terminated']);
  assert.equal(events[2].error.message,
    'the harness slow ran past its time limit of 2 s (runtime.harnesses.slow.timeout_seconds) and was killed; ' +
    `its stderr is in GET /v1/sessions/${created.id}/runtime`);
  assert.equal(events[2].error.type, 'unknown_error');
  assert.equal(session.status, 'terminated');
  assert.equal(runtime.state, 'timed_out');
  assert.equal(runtime.exit_code, null);
  assert.equal(runtime.signal, 9, 'Airlock kills the sandbox with SIGKILL');
  assert.ok(runtime.duration_seconds >= 2, `ran ${runtime.duration_seconds} s`);
  await until('no process of the session left on the host', () => hostProcessesOf(created.id).length === 0);
});

test('archiving a running session kills its harness: terminated, runtime.state stopped', async () => {
  const created = await runSession('sleeper');
  await rt.waitForMessage(created.id, 'sleeping');
  assert.equal((await rt.runtime(created.id)).state, 'running');
  assert.equal((await client.beta.sessions.retrieve(created.id)).status, 'running');
  assert.ok(hostProcessesOf(created.id).length > 0, 'the harness runs on the host');
  await client.beta.sessions.archive(created.id);
  const { session, runtime, events } = await rt.waitForEnd(created.id);
  assert.deepEqual(eventTypes(events), ['session.status_running', 'agent.message', 'session.status_terminated']);
  assert.equal(session.status, 'terminated');
  assertTimestamp(session.archived_at, 'archived_at');
  assert.equal(runtime.state, 'stopped');
  assert.deepEqual([runtime.exit_code, runtime.signal], [null, 9]);
  await until('no process of the session left on the host', () => hostProcessesOf(created.id).length === 0);
});

test('deleting a running session kills its harness and removes DATA_DIR/sessions/<id>/', async () => {
  const created = await runSession('sleeper');
  await rt.waitForMessage(created.id, 'sleeping');
  const dir = path.join(rt.dataDir, 'sessions', created.id);
  assert.ok(fs.existsSync(path.join(dir, 'workspace')));
  await client.beta.sessions.delete(created.id);
  await until('the session directory to be removed', () => !fs.existsSync(dir));
  await until('no process of the session left on the host', () => hostProcessesOf(created.id).length === 0);
  await expectApiError(client.beta.sessions.retrieve(created.id), { cls: Anthropic.NotFoundError, status: 404 });
});

// ---- placement ---------------------------------------------------------------------------------------

test('self_hosted + an environment_variable credential is refused (sessions and deployments); static_bearer is allowed', async () => {
  const selfHosted = await client.beta.environments.create({ name: 'self hosted', config: { type: 'self_hosted' } });
  const message = `environment_id: environment ${selfHosted.id} is self_hosted, so its sandboxes run outside Airlock's ` +
    'egress proxy and the placeholders of environment_variable credentials would never be swapped for their secrets: ' +
    `METRICS_API_TOKEN (vault ${vault.id}). Use a cloud environment (whose sandboxes reach the internet only through ` +
    'the proxy), or leave out the vaults that hold environment_variable credentials';
  const bad = { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error', errorCode: 'self_hosted_placeholders' };
  const refused = await expectApiError(
    client.beta.sessions.create({ agent: agent.id, environment_id: selfHosted.id, vault_ids: [vault.id] }), bad);
  assert.equal(refused.error.error.message, message);
  const deployment = {
    agent: agent.id, environment_id: selfHosted.id, name: 'self hosted', initial_events: [userMessage('go')],
    schedule: { type: 'cron', expression: '0 9 * * 1-5', timezone: 'UTC' },
  };
  const refusedDeployment = await expectApiError(client.beta.deployments.create({ ...deployment, vault_ids: [vault.id] }), bad);
  assert.equal(refusedDeployment.error.error.message, message);

  const mcpVault = await client.beta.vaults.create({ display_name: 'mcp only' });
  const token = `mcp-${crypto.randomBytes(12).toString('hex')}`;
  secrets.add(token);
  await client.beta.vaults.credentials.create(mcpVault.id, {
    auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.example/mcp', token },
  });
  const session = await client.beta.sessions.create({ agent: agent.id, environment_id: selfHosted.id, vault_ids: [mcpVault.id] });
  assert.equal(session.status, 'idle');
  assert.equal((await rt.runtime(session.id)).runtime, 'none');
  const created = await client.beta.deployments.create({ ...deployment, vault_ids: [mcpVault.id] });
  assert.deepEqual(created.vault_ids, [mcpVault.id]);
});

let external = null;

test('placement: an unknown harness is a 400 naming it (and other bad metadata); airlock.runtime: external runs nothing here', async () => {
  const unknown = await client.beta.environments.create({ name: 'unknown', metadata: { 'airlock.harness': 'missing-harness' } });
  const err = await expectApiError(client.beta.sessions.create({ agent: agent.id, environment_id: unknown.id }),
    { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error' });
  assert.equal(err.error.error.message,
    `environment_id: environment ${unknown.id} selects harness "missing-harness" (metadata airlock.harness), which this ` +
    `daemon's runtime.harnesses does not define (defined: ${Object.keys(harnesses).sort().join(', ')})`);

  // Other metadata the placement refuses.
  const refusals = [
    [{ 'airlock.runtime': 'elsewhere' }, (id) => `environment_id: environment ${id} has metadata airlock.runtime: "elsewhere"; ` +
      'accepted values are local and external'],
    [{ 'airlock.runtime': 'local' }, (id) => `environment_id: environment ${id} asks for airlock.runtime: local but names no ` +
      'airlock.harness and runtime.default_harness is none'],
    [{ 'airlock.runtime': 'external', 'airlock.harness': 'emit' }, (id) => `environment_id: environment ${id} sets both ` +
      'airlock.runtime: external and airlock.harness: emit; an external runtime starts its own container, so remove one of the two'],
  ];
  for (const [metadata, expected] of refusals) {
    const refused = await client.beta.environments.create({ name: 'refused', metadata });
    const e = await expectApiError(client.beta.sessions.create({ agent: agent.id, environment_id: refused.id }),
      { cls: Anthropic.BadRequestError, status: 400, type: 'invalid_request_error' });
    assert.equal(e.error.error.message, expected(refused.id));
  }
  // airlock.runtime: local with a harness named runs it.
  const local = await client.beta.environments.create({ name: 'local', metadata: { 'airlock.runtime': 'local', 'airlock.harness': 'emit' } });
  const ran = await client.beta.sessions.create({ agent: agent.id, environment_id: local.id });
  assert.equal((await rt.waitForEnd(ran.id)).runtime.state, 'exited');

  const environment = await client.beta.environments.create({ name: 'external', metadata: { 'airlock.runtime': 'external' } });
  const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, vault_ids: [vault.id] });
  external = session;
  assert.equal(session.status, 'idle');
  assert.deepEqual(await rt.runtime(session.id), {
    type: 'session_runtime', session_id: session.id, runtime: 'external', harness: null, state: null,
    started_at: null, ended_at: null, exit_code: null, signal: null, duration_seconds: null,
    limits: null, oom_kills: null, memory_peak_bytes: null,
    stderr: { bytes: 0, truncated: false, tail: '' },
    stdout: { bytes: 0, truncated: false },
  });
  assert.deepEqual(await rt.events(session.id), []);
  assert.equal(fs.existsSync(path.join(rt.dataDir, 'sessions', session.id)), false, 'no sandbox directory');
  // Its container (started elsewhere) gets its sandbox environment from the API.
  assert.match(await placeholderOf(session.id), kPlaceholder);
});

// ---- the live event stream ---------------------------------------------------------------------------

test('the event stream delivers the harness\'s status changes and output live', async () => {
  const streaming = new Anthropic({ apiKey: rt.apiKey, baseURL: rt.daemon.baseURL, maxRetries: 0, timeout: 30_000 });
  const created = await runSession('late');
  const stream = await streaming.beta.sessions.events.stream(created.id);
  const seen = [];
  const consumed = (async () => {
    for await (const event of stream) {
      seen.push(event);
      if (event.type === 'session.status_idle' || event.type === 'session.status_terminated') break;
    }
  })();
  let timer;
  await Promise.race([consumed, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the stream ended no session within 15 s: ${JSON.stringify(seen)}`)), 15_000);
  })]);
  clearTimeout(timer);

  const events = await rt.events(created.id);
  assert.deepEqual(eventTypes(events), ['session.status_running', 'agent.message', 'session.status_idle']);
  assert.deepEqual(events[1].content, [{ type: 'text', text: 'after a moment' }]);
  // The stream opened once the session existed, so status_running may have come before it (the harness
  // starts right after the create commits); the output, printed a second later, and the end come live,
  // as the same objects the list returns.
  assert.ok(seen.length >= 2, JSON.stringify(seen));
  assert.deepEqual(seen, events.slice(events.length - seen.length));
});

test('the external session is still idle with no events; nothing leaked a secret', async () => {
  assert.ok(external, 'needs the external session');
  assert.equal((await client.beta.sessions.retrieve(external.id)).status, 'idle');
  assert.deepEqual(await rt.events(external.id), []);
  assert.equal((await rt.runtime(external.id)).state, null);
  assertRawError(await rt.raw('GET', '/v1/sessions/sesn_01missing/runtime'), 404, 'not_found_error');
  assertNoSecretsLeaked(rec, secrets, [rt.daemon]);
});
