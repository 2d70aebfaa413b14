// `airlock doctor`: one line per check and exit 0 when serve has what it needs; what a first start will
// create is reported as such and not created; a port in use, a master key that does not open the store,
// a store without its key and a bad config are each a FAIL line saying what to do, exit 1.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { AIRLOCK_BIN, makeTempDir } from './lib/daemon.mjs';
import { useDaemon } from './lib/harness.mjs';
import { sandboxUnavailable } from './lib/runtime.mjs';

const ctx = useDaemon();
const scratch = makeTempDir('airlock-doctor-');
process.on('exit', () => fs.rmSync(scratch, { recursive: true, force: true }));
// Most checks here are of a daemon that runs no harness: what they report does not depend on this
// machine's bubblewrap and cgroups (the embedded defaults, which run the built-in agent, are checked below).
const noHarness = path.join(scratch, 'no-harness.yaml');
fs.writeFileSync(noHarness, 'runtime:\n  default_harness: none\n');

function doctor(args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(AIRLOCK_BIN, ['doctor', ...args], { env: { PATH: process.env.PATH, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolve({ code, stdout, stderr, lines: stdout.trimEnd().split('\n') }));
  });
}

const line = (result, check) => result.lines.find((l) => l.slice(6).startsWith(`${check}:`));

ctx.test('a machine ready for a first start: every line ok, exit 0, and nothing written', async () => {
  const dir = path.join(scratch, 'fresh');
  const result = await doctor(['--config', noHarness, '--data-dir', dir, '--api-listen', '127.0.0.1:0', '--proxy-listen',
                               '127.0.0.1:0']);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(result.stderr, '');
  for (const l of result.lines.slice(0, -1)) assert.ok(l.startsWith('ok    '), l);
  assert.equal(line(result, 'config'), `ok    config: ${noHarness}`);
  assert.match(line(result, 'clock'), /^ok {4}clock: \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  assert.match(line(result, 'time zones'), /^ok {4}time zones: tzdata (\d{4}[a-z] )?\(\d+ zones\)$/);
  assert.equal(line(result, 'data dir'), `ok    data dir: ${dir} will be created at the first start`);
  assert.equal(line(result, 'master key'), `ok    master key: ${dir}/master.key will be generated at the first start`);
  assert.equal(line(result, 'CA'), `ok    CA: ${dir}/ca.pem will be created at the first start`);
  assert.match(line(result, 'upstream trust'), /^ok {4}upstream trust: the system's CAs load/);
  assert.equal(line(result, 'API listener'), 'ok    API listener: 127.0.0.1:0: the kernel picks a free port');
  assert.equal(line(result, 'sandboxes'),
               'ok    sandboxes: no runtime.harnesses configured: sessions run nothing here, bubblewrap is not needed');
  assert.equal(result.lines.at(-1), '10 checks: 0 to fix, 0 to look at');
  assert.equal(fs.existsSync(dir), false, 'doctor created the data dir');
});

ctx.test('the embedded defaults run the built-in agent: doctor checks that bubblewrap can make its sandbox', async () => {
  const result = await doctor(['--data-dir', path.join(scratch, 'defaults'), '--api-listen', '127.0.0.1:0',
                               '--proxy-listen', '127.0.0.1:0']);
  assert.equal(line(result, 'config'), 'ok    config: embedded defaults (no --config)');
  if (sandboxUnavailable() === null) {
    assert.equal(line(result, 'sandboxes'), 'ok    sandboxes: bubblewrap (bwrap) creates a sandbox');
  } else {
    assert.match(line(result, 'sandboxes'), /^FAIL {2}sandboxes: bubblewrap \(bwrap\) cannot create a sandbox: /);
  }
});

ctx.test('beside a running daemon: its key opens its store, its CA has years left, and its API port is taken', async () => {
  const api = ctx.daemon.ready.api;
  const result = await doctor(['--config', noHarness, '--data-dir', ctx.tmp, '--api-listen', api, '--proxy-listen',
                               '127.0.0.1:0']);
  assert.equal(result.code, 1, result.stdout);
  assert.match(line(result, 'data dir'), new RegExp(`^ok {4}data dir: ${ctx.tmp} \\(mode 0700, yours\\)$`));
  assert.equal(line(result, 'master key'), `ok    master key: ${ctx.tmp}/master.key opens ${ctx.tmp}/airlock.db`);
  assert.match(line(result, 'CA'), new RegExp(`^ok {4}CA: ${ctx.tmp}/ca\\.pem is valid for \\d{4} more days \\(until \\d{4}-\\d{2}-\\d{2}\\)$`));
  assert.equal(line(result, 'API listener'),
               `FAIL  API listener: ${api} is in use: another process listens there (airlock serve already running?); ` +
               'stop it or choose another with --api-listen');
  assert.equal(result.lines.at(-1), '10 checks: 1 to fix, 0 to look at');
});

ctx.test('a master key that does not open the store, and a store without its key', async () => {
  const other = 'ab'.repeat(32);
  const wrong = await doctor(['--data-dir', ctx.tmp, '--api-listen', '127.0.0.1:0', '--proxy-listen', '127.0.0.1:0'],
                             { AIRLOCK_MASTER_KEY: other });
  assert.equal(wrong.code, 1);
  assert.match(line(wrong, 'master key'), /^FAIL {2}master key: the master key from AIRLOCK_MASTER_KEY does not open .*airlock\.db: it was sealed under another key/);
  assert.equal(line(wrong, 'CA'), 'warn  CA: not checked: the master key does not open the store (above)');
  assert.ok(!wrong.stdout.includes(other));

  const lost = path.join(scratch, 'lost');
  fs.mkdirSync(lost, { mode: 0o700 });
  fs.writeFileSync(path.join(lost, 'airlock.db'), '');
  const missing = await doctor(['--data-dir', lost, '--api-listen', '127.0.0.1:0', '--proxy-listen', '127.0.0.1:0']);
  assert.equal(missing.code, 1);
  assert.equal(line(missing, 'master key'),
               `FAIL  master key: ${lost}/airlock.db holds a store but ${lost}/master.key is missing: restore the key file, ` +
               'or set AIRLOCK_MASTER_KEY; without the key no secret in it can be unsealed');
});

ctx.test('a config that does not load is the one line, exit 1', async () => {
  const result = await doctor(['--config', path.join(scratch, 'nowhere.yaml')]);
  assert.equal(result.code, 1);
  assert.equal(result.lines.length, 2);
  assert.match(result.lines[0], /^FAIL {2}config: .*nowhere\.yaml/);
  assert.equal(result.lines[1], '1 check: 1 to fix, 0 to look at');
  const usage = await doctor(['--help']);
  assert.equal(usage.code, 0);
  assert.match(usage.stdout, /^usage: airlock doctor/);
});
