// The lab every client test shares: a real `airlock serve` that trusts the test origins' CA and resolves
// their names to loopback; a session whose vault holds the tokens, so that its sandbox_env carries
// placeholders only; a runner for real tools that gives them that environment and nothing else of ours
// (a fresh HOME, so their config and caches land where the test can search them); and the check that a
// secret is nowhere it must not be: the tool's output, any file under the given folders, the daemon's log.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { after } from 'node:test';

import { makeTempDir } from '../../sdk/lib/daemon.mjs';
import { useDaemon } from '../../sdk/lib/harness.mjs';
import { makeOriginCertificates } from '../../sdk/lib/origin.mjs';

// `hosts`: the names the test's origins answer to (all resolve to 127.0.0.1 for the daemon, which is
// allowed to reach loopback for this test only). Returns the daemon context of harness.mjs plus:
//   certificates  {ca (path), key, cert} for the origins
//   work          a temp folder removed at the end unless a test failed
//   sandbox({tokens}) → {env, secrets, session}: one vault with a credential per token, each allowed to
//                 its own hosts only: tokens = [{name: 'NPM_TOKEN', hosts: ['registry.internal.test']}]
//   egressRows(session, count) → the session's egress audit rows (GET /v1/sessions/{id}/egress)
export function useLab({ hosts }) {
  const work = makeTempDir('airlock-clients-');
  const certificates = makeOriginCertificates(work, hosts);
  const resolve = hosts.flatMap((host) => ['--resolve', `${host}:127.0.0.1`]);
  const ctx = useDaemon({ args: ['--upstream-ca', certificates.ca, ...resolve, '--allow-private', '127.0.0.1/32'] });
  ctx.certificates = certificates;
  ctx.work = work;
  after(() => {
    if (!ctx.failed) fs.rmSync(work, { recursive: true, force: true });
    else process.stderr.write(`\n--- client test files kept in ${work} ---\n`);
  });

  ctx.sandbox = async ({ tokens }) => {
    const vault = await ctx.client.beta.vaults.create({ display_name: 'clients' });
    const secrets = {};
    for (const { name, hosts: allowed } of tokens) {
      secrets[name] = ctx.secret(name.toLowerCase());
      await ctx.client.beta.vaults.credentials.create(vault.id, {
        auth: { type: 'environment_variable', secret_name: name, secret_value: secrets[name],
                networking: { type: 'limited', allowed_hosts: allowed } },
      });
    }
    const environment = await ctx.client.beta.environments.create({ name: 'clients' });
    const agent = await ctx.client.beta.agents.create({ name: 'clients', model: 'claude-opus-5-5' });
    const session = await ctx.client.beta.sessions.create({ agent: agent.id, environment_id: environment.id,
                                                            vault_ids: [vault.id] });
    const { status, json } = await ctx.raw('GET', `/v1/sessions/${session.id}/sandbox_env`);
    assert.equal(status, 200, JSON.stringify(json));
    for (const { name } of tokens) {
      assert.match(json.env[name], /^airlock_ph_[A-Za-z0-9]{40}$/, `${name} must be a placeholder`);
    }
    return { env: json.env, secrets, session };
  };

  // The session's egress audit, once it holds at least `count` rows (its writer flushes every 250 ms;
  // after 4 s, whatever is there).
  ctx.egressRows = async (session, count) => {
    for (let i = 0; ; i++) {
      const { status, json } = await ctx.raw('GET', `/v1/sessions/${session.id}/egress?limit=100`);
      assert.equal(status, 200, JSON.stringify(json));
      if (json.data.length >= count || i === 40) return json.data;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  return ctx;
}

// A folder under the lab's work folder, made fresh.
export function freshDir(ctx, name) {
  const dir = path.join(ctx.work, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

// Runs a real tool with PATH, the given HOME and the sandbox's variables only. Resolves with
// {code, stdout, stderr}; never rejects on a non-zero exit (the test asserts the code).
export function runTool(command, args, { env, home, cwd, input, timeoutMs = 120_000 }) {
  const childEnv = { PATH: process.env.PATH, HOME: home, LANG: 'C.UTF-8', ...env };
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: childEnv, cwd: cwd ?? home, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', (err) => { stderr += `\n[spawn error: ${err.message}]`; });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: signal ? `signal ${signal}` : code, stdout, stderr });
    });
    child.stdin.on('error', () => {});  // EPIPE when the tool exits before reading: its exit code tells
    child.stdin.end(input ?? '');
  });
}

// Every file under `dirs` (recursively, symlinks not followed), the given texts, and the daemon's output:
// none contains `secret`.
export function assertSecretNowhere(ctx, secret, { dirs = [], texts = {} }) {
  for (const [what, text] of Object.entries(texts)) {
    assert.ok(!String(text).includes(secret), `${what} contains the real token`);
  }
  const needle = Buffer.from(secret);
  const visit = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(file);
      else if (entry.isFile()) assert.ok(!fs.readFileSync(file).includes(needle), `${file} contains the real token`);
    }
  };
  for (const dir of dirs) visit(dir);
  assert.ok(!ctx.daemon.log().includes(secret), 'the daemon\'s output contains the real token');
}

// An HTTPS origin on 127.0.0.1 with the lab's certificate; `handler(req, res, body)` gets the whole
// request body as a Buffer. Every request is kept in `received` ({method, url, headers}). Closed at the end.
export async function startHttpsOrigin(ctx, handler) {
  const received = [];
  const server = https.createServer({ key: ctx.certificates.key, cert: ctx.certificates.cert }, (req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, headers: req.headers });
      Promise.resolve(handler(req, res, Buffer.concat(chunks))).catch((err) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err?.stack ?? err));
      });
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => server.close());
  return { server, port: server.address().port, received };
}
