// Real curl with a session's sandbox environment and nothing else of ours: {code, status, body, stderr},
// where status is the origin's HTTP status (0 when curl got none, e.g. a refused CONNECT).
import { spawn } from 'node:child_process';

export function curl(sandboxEnv, args) {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...sandboxEnv };
  return new Promise((resolve) => {
    const child = spawn('curl', ['-sS', '-o', '-', '-w', '\n%{http_code}', ...args], { env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', (code) => {
      const cut = out.lastIndexOf('\n');
      resolve({ code, status: Number(out.slice(cut + 1)), body: out.slice(0, cut), stderr: err });
    });
  });
}
