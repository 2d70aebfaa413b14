// Starts and stops a real `airlock serve` for the SDK conformance tests.
//
// The daemon listens on port 0 for both the API and the proxy, and writes its bound addresses to a ready
// file once every listener is bound; start() polls for that file (never a blind sleep) and fails fast,
// with the daemon's output, if the process exits first. The binary is $AIRLOCK_BIN, or build/airlock at
// the top of the repository. Output (stdout and stderr) is kept in memory so a failing test can print
// its tail.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const AIRLOCK_BIN = process.env.AIRLOCK_BIN || path.resolve(here, '../../../build/airlock');

const kReadyPollMs = 20;
const kReadyTimeoutMs = 15_000;
const kStopTimeoutMs = 5_000;
const kLogLimit = 4 * 1024 * 1024;

export function makeTempDir(prefix = 'airlock-sdk-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function randomApiKey() {
  return `sk-airlock-test-${crypto.randomBytes(16).toString('hex')}`;
}

// The environment the daemon runs with: ours, minus any Airlock variable a developer may have exported
// (the tests decide the master key and API keys), plus the test's own values.
function childEnv(apiKey, env) {
  const base = { ...process.env };
  for (const key of Object.keys(base)) {
    if (key.startsWith('AIRLOCK_') && key !== 'AIRLOCK_BIN') delete base[key];
  }
  return { ...base, AIRLOCK_API_KEY: apiKey, ...env };
}

// Daemons started without a config file run no harness for sessions whose environment names none (the
// built-in agent would otherwise start for each): the tests of the API and the proxy create sessions they
// drive themselves. Runtime tests pass their own --config.
function defaultConfigArgs(dataDir, args) {
  if (args.includes('--config')) return [];
  const file = path.join(dataDir, 'airlock-test-defaults.yaml');
  fs.writeFileSync(file, 'runtime:\n  default_harness: none\n');
  return ['--config', file];
}

function spawnServe({ dataDir, apiKey, env, args }) {
  const readyFile = path.join(dataDir, 'ready.json');
  fs.rmSync(readyFile, { force: true });
  const argv = [
    'serve',
    '--data-dir', dataDir,
    '--api-listen', '127.0.0.1:0',
    '--proxy-listen', '127.0.0.1:0',
    '--ready-file', readyFile,
    ...defaultConfigArgs(dataDir, args),
    ...args,
  ];
  const child = spawn(AIRLOCK_BIN, argv, {
    env: childEnv(apiKey, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { all: '', stdout: '', stderr: '' };
  const append = (stream) => (chunk) => {
    const text = chunk.toString('utf8');
    if (output.all.length < kLogLimit) output.all += text;
    if (output[stream].length < kLogLimit) output[stream] += text;
  };
  child.stdout.on('data', append('stdout'));
  child.stderr.on('data', append('stderr'));
  const exited = new Promise((resolve) => {
    child.on('error', (err) => {
      output.all += `\n[spawn error: ${err.message}]\n`;
      output.stderr += `\n[spawn error: ${err.message}]\n`;
      resolve({ code: null, signal: null, error: err });
    });
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  let exitStatus = null;
  exited.then((status) => { exitStatus = status; });
  return { child, readyFile, output, exited, exitStatus: () => exitStatus, argv };
}

function tail(text, lines = 80) {
  const all = text.split('\n');
  return all.slice(Math.max(0, all.length - lines)).join('\n');
}

function readReady(readyFile) {
  let text;
  try {
    text = fs.readFileSync(readyFile, 'utf8');
  } catch {
    return null;
  }
  try {
    const ready = JSON.parse(text);
    if (typeof ready.api === 'string' && typeof ready.proxy === 'string') return ready;
  } catch {
    // Partly written: poll again.
  }
  return null;
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Starts the daemon and waits until it is ready. Returns a handle:
//   baseURL ("http://127.0.0.1:P"), proxyAddress ("127.0.0.1:Q"), apiKey, dataDir, pid,
//   kill(signal) → Promise<{code, signal}>, stop() → Promise<{code, signal}> (SIGTERM; throws if it does
//   not exit within 5 s), log() → all output so far, logTail(lines), stderr(), exited (Promise).
export async function start({ dataDir, apiKey = randomApiKey(), env = {}, args = [] } = {}) {
  if (!dataDir) throw new Error('start(): dataDir is required');
  if (!fs.existsSync(AIRLOCK_BIN)) {
    throw new Error(`airlock binary not found at ${AIRLOCK_BIN} (set AIRLOCK_BIN)`);
  }
  const proc = spawnServe({ dataDir, apiKey, env, args });
  const deadline = Date.now() + kReadyTimeoutMs;
  let ready = null;
  while (!ready) {
    if (proc.exitStatus()) {
      const { code, signal } = proc.exitStatus();
      throw new Error(
        `airlock exited before it was ready (code ${code}, signal ${signal})\n` +
        `--- airlock output (tail) ---\n${tail(proc.output.all)}`);
    }
    if (Date.now() > deadline) {
      proc.child.kill('SIGKILL');
      await proc.exited;
      throw new Error(
        `airlock did not write ${proc.readyFile} within ${kReadyTimeoutMs} ms\n` +
        `--- airlock output (tail) ---\n${tail(proc.output.all)}`);
    }
    ready = readReady(proc.readyFile);
    if (!ready) await delay(kReadyPollMs);
  }

  const handle = {
    baseURL: `http://${ready.api}`,
    proxyAddress: ready.proxy,
    apiKey,
    dataDir,
    pid: proc.child.pid,
    ready,
    exited: proc.exited,
    log: () => proc.output.all,
    stderr: () => proc.output.stderr,
    stdout: () => proc.output.stdout,
    logTail: (lines = 80) => tail(proc.output.all, lines),
    async kill(signal = 'SIGKILL') {
      if (!proc.exitStatus()) proc.child.kill(signal);
      return proc.exited;
    },
    async stop() {
      if (proc.exitStatus()) return proc.exitStatus();
      proc.child.kill('SIGTERM');
      let timer;
      const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve(null), kStopTimeoutMs); });
      const status = await Promise.race([proc.exited, timeout]);
      clearTimeout(timer);
      if (status) return status;
      proc.child.kill('SIGKILL');
      await proc.exited;
      throw new Error(`airlock did not exit within ${kStopTimeoutMs} ms of SIGTERM`);
    },
  };
  return handle;
}

// Runs `airlock serve` where it is expected to refuse to start. Resolves once the process exits (or after
// 15 s, when it is killed): {code, signal, stdout, stderr, output, becameReady}.
export async function startExpectingFailure({ dataDir, apiKey = randomApiKey(), env = {}, args = [] } = {}) {
  if (!fs.existsSync(AIRLOCK_BIN)) {
    throw new Error(`airlock binary not found at ${AIRLOCK_BIN} (set AIRLOCK_BIN)`);
  }
  const proc = spawnServe({ dataDir, apiKey, env, args });
  const deadline = Date.now() + kReadyTimeoutMs;
  let becameReady = false;
  while (!proc.exitStatus()) {
    if (readReady(proc.readyFile)) {
      becameReady = true;
      proc.child.kill('SIGTERM');
      break;
    }
    if (Date.now() > deadline) {
      proc.child.kill('SIGKILL');
      break;
    }
    await delay(kReadyPollMs);
  }
  const { code, signal } = await proc.exited;
  return {
    code, signal, becameReady,
    stdout: proc.output.stdout, stderr: proc.output.stderr, output: proc.output.all,
  };
}
