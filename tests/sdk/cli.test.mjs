// The admin CLI (`airlock vaults|credentials|agents|environments|sessions|deployments|runs ...`), the real
// binary against a real daemon: tables for people and --json for scripts, exact exit codes (0, 1 with
// the API's words, 2 usage), secrets read only from the environment, a file or stdin and never printed,
// and `sessions events --follow` printing events as they arrive.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { AIRLOCK_BIN, makeTempDir } from './lib/daemon.mjs';
import { useDaemon } from './lib/harness.mjs';
import { waitUntil } from './lib/faults.mjs';

const ctx = useDaemon();
const workDir = makeTempDir('airlock-cli-');
process.on('exit', () => fs.rmSync(workDir, { recursive: true, force: true }));

// Runs `airlock ARGS...` with the daemon's URL and key in the environment (unless `env` says otherwise).
function cli(args, { env = {}, input = '', cwd = workDir, keepKey = true } = {}) {
  const base = { PATH: process.env.PATH };
  if (keepKey) Object.assign(base, { AIRLOCK_URL: ctx.daemon.baseURL, AIRLOCK_API_KEY: ctx.apiKey });
  return new Promise((resolve) => {
    const child = spawn(AIRLOCK_BIN, args, { env: { ...base, ...env }, cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    // A command refused before it reads stdin exits first: the write then fails with EPIPE, which is fine.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

function tableRows(stdout) {
  return stdout.trimEnd().split('\n').map((line) => line.split(/ {2,}/));
}

let vaultId;

ctx.test('vaults: create, get and list as tables, and --json as the API answers', async () => {
  const created = await cli(['vaults', 'create', '--data', '{"display_name":"ops"}', '--json']);
  assert.equal(created.code, 0, created.stderr);
  assert.equal(created.stderr, '');
  const vault = JSON.parse(created.stdout);
  vaultId = vault.id;
  assert.deepEqual(vault, await ctx.client.beta.vaults.retrieve(vault.id));

  const got = await cli(['vaults', 'get', vault.id]);
  assert.equal(got.code, 0, got.stderr);
  const fields = new Map(tableRows(got.stdout).map(([k, v]) => [k, v]));
  assert.equal(fields.get('FIELD'), 'VALUE');
  assert.equal(fields.get('id'), vault.id);
  assert.equal(fields.get('display_name'), 'ops');
  assert.equal(fields.get('archived_at'), '-');

  await ctx.client.beta.vaults.create({ display_name: 'second' });
  const listed = await cli(['vaults', 'list']);
  assert.equal(listed.code, 0, listed.stderr);
  const rows = tableRows(listed.stdout);
  assert.deepEqual(rows[0], ['ID', 'NAME', 'CREATED', 'ARCHIVED']);
  assert.deepEqual(rows.slice(1).map((r) => r[1]), ['second', 'ops']);  // newest first, as the API lists
  // Columns line up: every row's second column starts where the header's does.
  const lines = listed.stdout.trimEnd().split('\n');
  const at = lines[0].indexOf('NAME');
  for (const line of lines.slice(1)) {
    assert.equal(line.slice(at - 2, at), '  ');
    assert.notEqual(line[at], ' ');
  }

  const limited = await cli(['vaults', 'list', '--limit', '1', '--json']);
  assert.equal(limited.code, 0, limited.stderr);
  assert.deepEqual(JSON.parse(limited.stdout).map((v) => v.display_name), ['second']);
});

ctx.test('credentials: the secret comes from the environment, a file or stdin, and is never printed', async () => {
  const fromEnv = ctx.secret('sk-cli-env');
  const made = await cli(['credentials', 'create', vaultId, '--secret-name', 'METRICS_API_TOKEN',
    '--host', 'metrics.example.com', '--from-env', 'TOKEN_VALUE', '--json'], { env: { TOKEN_VALUE: fromEnv } });
  assert.equal(made.code, 0, made.stderr);
  const credential = JSON.parse(made.stdout);
  assert.deepEqual(credential.auth, {
    type: 'environment_variable', secret_name: 'METRICS_API_TOKEN',
    networking: { type: 'limited', allowed_hosts: ['metrics.example.com'] }, injection_location: { header: true, body: true, url: false },
  });
  assert.ok(!made.stdout.includes(fromEnv) && !made.stderr.includes(fromEnv));

  // Rotation from a file; the update keeps the name and the hosts.
  const fromFile = ctx.secret('sk-cli-file');
  const file = path.join(workDir, 'secret.txt');
  fs.writeFileSync(file, `${fromFile}\n`, { mode: 0o600 });
  const rotated = await cli(['credentials', 'update', vaultId, credential.id, '--from-file', file, '--json']);
  assert.equal(rotated.code, 0, rotated.stderr);
  const after = JSON.parse(rotated.stdout);
  assert.deepEqual(after.auth, credential.auth);
  assert.notEqual(after.updated_at, credential.updated_at);
  assert.ok(!rotated.stdout.includes(fromFile));

  // stdin (not a terminal: no prompt is printed), and an unrestricted one.
  const fromStdin = ctx.secret('sk-cli-stdin');
  const piped = await cli(['credentials', 'create', vaultId, '--secret-name', 'OTHER', '--unrestricted'], { input: `${fromStdin}\n` });
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(piped.stderr, '');
  assert.ok(!piped.stdout.includes(fromStdin));

  const listed = await cli(['credentials', 'list', vaultId]);
  assert.equal(listed.code, 0, listed.stderr);
  const rows = tableRows(listed.stdout);
  assert.deepEqual(rows[0], ['ID', 'TYPE', 'SECRET NAME', 'MCP SERVER', 'HOSTS', 'CREATED', 'ARCHIVED']);
  assert.deepEqual(rows.slice(1).map((r) => [r[1], r[2], r[3], r[4]]), [
    ['environment_variable', 'OTHER', '-', '-'],
    ['environment_variable', 'METRICS_API_TOKEN', '-', 'metrics.example.com'],
  ]);

  // A secret on the command line is refused before anything is sent.
  const refused = await cli(['credentials', 'create', vaultId, '--secret-name', 'X', '--host', 'h.example.com',
    '--secret-value', 'sk-on-the-command-line-1234567890']);
  assert.equal(refused.code, 2);
  assert.equal(refused.stdout, '');
  assert.match(refused.stderr, /^airlock credentials: --secret-value: secrets are never taken on the command line, where other users and the shell history see them; use --from-env VAR, --from-file FILE or the prompt\nusage: airlock credentials list VAULT/);
  const unset = await cli(['credentials', 'create', vaultId, '--secret-name', 'X', '--host', 'h.example.com', '--from-env', 'NOT_SET']);
  assert.equal(unset.code, 2);
  assert.match(unset.stderr, /^airlock credentials: --from-env: the environment variable NOT_SET is not set\n/);
  const nowhere = await cli(['credentials', 'create', vaultId, '--secret-name', 'X', '--from-env', 'TOKEN_VALUE'], { env: { TOKEN_VALUE: fromEnv } });
  assert.equal(nowhere.code, 2);
  assert.match(nowhere.stderr, /^airlock credentials: say where the secret may go: --host HOST \(repeatable\) or --unrestricted\n/);

  // The API's refusals come back in its own words, exit code 1.
  const weak = await cli(['credentials', 'create', vaultId, '--secret-name', 'WEAK', '--host', 'h.example.com'], { input: 'aaaaaaaaaaaaaaaaaaaaaaaa\n' });
  assert.equal(weak.code, 1);
  assert.equal(weak.stdout, '');
  assert.match(weak.stderr, /^airlock credentials: 400 invalid_request_error: auth\.secret_value: /);
  assert.ok(!weak.stderr.includes('aaaaaaaaaaaaaaaaaaaaaaaa'));
});

ctx.test('exit codes: 1 with the API\'s message, 2 for usage, and what to do without a key or a daemon', async () => {
  const missing = await cli(['vaults', 'get', 'vlt_01missing']);
  const raw = await ctx.raw('GET', '/v1/vaults/vlt_01missing');
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, '');
  assert.equal(missing.stderr, `airlock vaults: 404 not_found_error: ${raw.json.error.message}\n`);

  const bare = await cli(['vaults']);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /^usage: airlock vaults list \[--limit N\] \[--include-archived\]\n/);
  const unknown = await cli(['vaults', 'frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^airlock vaults: airlock vaults has no command "frobnicate"\n/);
  const agentsDelete = await cli(['agents', 'delete', 'agent_01x']);
  assert.equal(agentsDelete.code, 2);  // agents are archived, never deleted
  const help = await cli(['runs', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: airlock runs list \[--limit N\] \[--include-archived\] \[--deployment ID\]\n/);

  const keyless = await cli(['vaults', 'list'], { keepKey: false, env: { AIRLOCK_URL: ctx.daemon.baseURL } });
  assert.equal(keyless.code, 2);
  assert.match(keyless.stderr, /^airlock vaults: no API key: pass --api-key KEY, set AIRLOCK_API_KEY, or run where \.airlock\/admin\.key is\n/);
  // ./.airlock/admin.key is the last resort, as `make run` writes it.
  const home = makeTempDir('airlock-cli-home-');
  fs.mkdirSync(path.join(home, '.airlock'));
  fs.writeFileSync(path.join(home, '.airlock', 'admin.key'), `${ctx.apiKey}\n`);
  const fromFile = await cli(['vaults', 'list', '--url', ctx.daemon.baseURL], { keepKey: false, cwd: home });
  fs.rmSync(home, { recursive: true, force: true });
  assert.equal(fromFile.code, 0, fromFile.stderr);
  const wrong = await cli(['vaults', 'list', '--api-key', 'not-the-key']);
  assert.equal(wrong.code, 1);
  assert.equal(wrong.stderr, 'airlock vaults: 401 authentication_error: invalid API key\n');

  const down = await cli(['vaults', 'list', '--url', 'http://127.0.0.1:1']);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /^airlock vaults: cannot reach Airlock at http:\/\/127\.0\.0\.1:1: cannot connect to 127\.0\.0\.1:1\n$/);
});

ctx.test('deployments: next fire times, run now, and the run in runs list; archive', async () => {
  const agent = await ctx.client.beta.agents.create({ name: 'digest', model: 'claude-opus-5-5' });
  const environment = await ctx.client.beta.environments.create({ name: 'digest' });
  const deployment = await ctx.client.beta.deployments.create({
    agent: agent.id, environment_id: environment.id, name: 'weekday-digest',
    initial_events: [{ type: 'user.message', content: [{ type: 'text', text: 'go' }] }],
    schedule: { type: 'cron', expression: '0 9 * * 1-5', timezone: 'Europe/Berlin' },
  });
  const next = await cli(['deployments', 'next', deployment.id]);
  assert.equal(next.code, 0, next.stderr);
  assert.equal(next.stdout, deployment.schedule.upcoming_runs_at.map((at) => `${at}\n`).join(''));

  const listed = await cli(['deployments', 'list']);
  const row = tableRows(listed.stdout).find((r) => r[0] === deployment.id);
  assert.deepEqual(row, [deployment.id, 'weekday-digest', 'active', '0 9 * * 1-5', 'Europe/Berlin',
                         deployment.schedule.upcoming_runs_at[0], '-']);

  const ran = await cli(['deployments', 'run', deployment.id, '--json']);
  assert.equal(ran.code, 0, ran.stderr);
  const run = JSON.parse(ran.stdout);
  assert.equal(run.deployment_id, deployment.id);
  assert.match(run.session_id, /^sesn_/);
  const runs = await cli(['runs', 'list', '--deployment', deployment.id]);
  assert.equal(runs.code, 0, runs.stderr);
  assert.deepEqual(tableRows(runs.stdout).slice(1).map((r) => r.slice(0, 4)), [[run.id, deployment.id, run.session_id, '-']]);

  const paused = await cli(['deployments', 'pause', deployment.id, '--json']);
  assert.equal(JSON.parse(paused.stdout).status, 'paused');
  const archived = await cli(['deployments', 'archive', deployment.id, '--json']);
  assert.equal(archived.code, 0, archived.stderr);
  assert.match(JSON.parse(archived.stdout).archived_at, /^\d{4}-/);
});

ctx.test('sessions events --follow prints each event as it arrives; egress lists the audit', async () => {
  const agent = await ctx.client.beta.agents.create({ name: 'follow', model: 'claude-opus-5-5' });
  const environment = await ctx.client.beta.environments.create({ name: 'follow' });
  const session = await ctx.client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
  await ctx.client.beta.sessions.events.send(session.id, {
    events: [{ type: 'user.message', content: [{ type: 'text', text: 'before the follow' }] }],
  });

  const child = spawn(AIRLOCK_BIN, ['sessions', 'events', session.id, '--follow'],
    { env: { PATH: process.env.PATH, AIRLOCK_URL: ctx.daemon.baseURL, AIRLOCK_API_KEY: ctx.apiKey } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => child.on('close', resolve));
  try {
    // The history first: one event sent before the CLI started.
    await waitUntil(() => out.includes('before the follow'), { what: 'the history on the CLI', timeoutMs: 15_000 });
    await waitUntil(() => err === `following ${session.id} (Ctrl-C to stop)\n`, { what: 'the stream open', timeoutMs: 15_000 });
    await ctx.client.beta.sessions.events.send(session.id, {
      events: [{ type: 'user.message', content: [{ type: 'text', text: 'hello from the test' }] }],
    });
    await waitUntil(() => out.includes('hello from the test'), { what: 'the event on the CLI', timeoutMs: 15_000 });
    const line = out.split('\n').find((l) => l.includes('hello from the test'));
    assert.match(line, /^\d{4}-\d{2}-\d{2}T[\d:.]+Z {2}user\.message {2}hello from the test$/);
    await ctx.client.beta.sessions.events.send(session.id, {
      events: [{ type: 'user.message', content: [{ type: 'text', text: 'and a second one' }] }],
    });
    await waitUntil(() => out.includes('and a second one'), { what: 'the second event', timeoutMs: 15_000 });
  } finally {
    child.kill('SIGTERM');
    await exited;
  }

  const listed = await cli(['sessions', 'events', session.id, '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  const texts = listed.stdout.trimEnd().split('\n').map((l) => JSON.parse(l))
    .filter((e) => e.type === 'user.message').map((e) => e.content[0].text);
  assert.deepEqual(texts, ['before the follow', 'hello from the test', 'and a second one']);
  // Each event once, in order, on the follow's output too.
  const followed = out.split('\n').filter((l) => l.includes('user.message')).map((l) => l.split('  ')[2]);
  assert.deepEqual(followed, texts);

  const egress = await cli(['sessions', 'egress', session.id]);
  assert.equal(egress.code, 0, egress.stderr);
  assert.equal(egress.stdout, 'TIME  METHOD  HOST  PATH  STATUS  DECISION  REASON\n');
});
