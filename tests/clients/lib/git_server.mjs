// A private git host over HTTPS, as git sees one: git's own smart-HTTP CGI (git http-backend) behind a
// Node HTTPS front, so that clone, fetch and push speak the real protocol (v2 for fetches, receive-pack
// for pushes) rather than an imitation of it.
//
// Every request must carry HTTP Basic with the token as its password (any user name, as on hosts where
// the user is `x-access-token` or `oauth2`); anything else gets 401 with a Basic challenge, which is
// also what makes git ask a credential helper. Each request is kept in `received`
// ({method, url, authorization, contentEncoding, transferEncoding, status}).
//
// The server holds one bare repository, org/repo.git, with one commit on main, and accepts pushes to
// it (http.receivepack=true).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';

const kBackend = '/usr/lib/git-core/git-http-backend';

export const kRepo = 'org/repo.git';
export const kReadme = 'hello from the lab\n';

// Git run for the server's own setup, isolated from any user or system configuration.
function git(home, args, options = {}) {
  return execFileSync('git', args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options,
    env: { PATH: process.env.PATH, HOME: home, GIT_CONFIG_NOSYSTEM: '1', LANG: 'C',
           GIT_AUTHOR_NAME: 'Lab Origin', GIT_AUTHOR_EMAIL: 'origin@lab.test',
           GIT_COMMITTER_NAME: 'Lab Origin', GIT_COMMITTER_EMAIL: 'origin@lab.test',
           GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z' },
  }).trim();
}

// The bare repository with one commit (README.md) on main, pushable over HTTP, and `branches` more
// branches topic-0..N-1, each on a commit of its own on top of main (a clone then wants N+1 commits,
// which makes git's fetch request large enough for git to gzip it).
function makeRepository(dir, branches) {
  const home = path.join(dir, 'server-home');
  const root = path.join(dir, 'repositories');
  const bare = path.join(root, kRepo);
  const seed = path.join(dir, 'seed');
  fs.mkdirSync(home, { recursive: true });
  fs.mkdirSync(seed, { recursive: true });
  git(home, ['init', '--quiet', '--bare', '--initial-branch=main', bare]);
  git(home, ['--git-dir', bare, 'config', 'http.receivepack', 'true']);
  git(home, ['init', '--quiet', '--initial-branch=main', seed]);
  fs.writeFileSync(path.join(seed, 'README.md'), kReadme);
  git(home, ['-C', seed, 'add', 'README.md']);
  git(home, ['-C', seed, 'commit', '--quiet', '-m', 'initial commit']);
  git(home, ['-C', seed, 'push', '--quiet', bare, 'main:main']);
  fs.rmSync(seed, { recursive: true, force: true });
  if (branches > 0) {
    const main = git(home, ['--git-dir', bare, 'rev-parse', 'main']);
    let stream = '';
    for (let i = 0; i < branches; i++) {
      const message = `topic ${i}\n`;
      stream += `commit refs/heads/topic-${i}\ncommitter Lab Origin <origin@lab.test> 1767225600 +0000\n` +
                `data ${Buffer.byteLength(message)}\n${message}from ${main}\n\n`;
    }
    git(home, ['--git-dir', bare, 'fast-import', '--quiet'], { input: stream, stdio: ['pipe', 'pipe', 'pipe'] });
  }
  return { home, root, bare, head: git(home, ['--git-dir', bare, 'rev-parse', 'main']) };
}

// The user name of a Basic header whose password is `token`, or null.
function basicUser(header, token) {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '');
  if (!match) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0 || decoded.slice(colon + 1) !== token) return null;
  return decoded.slice(0, colon);
}

// Splits the CGI's output head ("Status: 200 OK", header lines, blank line) from its body.
function headEnd(buffer) {
  const crlf = buffer.indexOf('\r\n\r\n');
  const lf = buffer.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { end: crlf, skip: 4 };
  if (lf >= 0) return { end: lf, skip: 2 };
  return null;
}

// Runs git http-backend for one authenticated request, streaming the body both ways.
function runBackend(repo, req, res, user, seen) {
  const url = new URL(req.url, 'https://git.invalid');
  const env = {
    PATH: process.env.PATH,
    HOME: repo.home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_PROJECT_ROOT: repo.root,
    GIT_HTTP_EXPORT_ALL: '1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_METHOD: req.method,
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.replace(/^\?/, ''),
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    REMOTE_USER: user,
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    // Room for a whole gzip-compressed request, which the backend must buffer to inflate.
    GIT_HTTP_MAX_REQUEST_BUFFER: '100M',
  };
  // Without a length (a chunked body) the backend reads its stdin to the end.
  if (req.headers['content-length'] !== undefined) env.CONTENT_LENGTH = req.headers['content-length'];
  // git gzips large request bodies; the backend inflates them itself when told.
  if (req.headers['content-encoding'] !== undefined) env.HTTP_CONTENT_ENCODING = req.headers['content-encoding'];
  // Protocol v2 is negotiated through this header.
  if (req.headers['git-protocol'] !== undefined) env.HTTP_GIT_PROTOCOL = req.headers['git-protocol'];

  const child = spawn(kBackend, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  child.stdin.on('error', () => {});  // the backend may answer (and exit) before reading everything
  req.pipe(child.stdin);

  let head = Buffer.alloc(0);
  let started = false;
  const onHead = (chunk) => {
    head = Buffer.concat([head, chunk]);
    const split = headEnd(head);
    if (!split) return;
    started = true;
    let status = 200;
    const headers = {};
    for (const line of head.subarray(0, split.end).toString('latin1').split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
      else headers[name] = value;
    }
    seen.status = status;
    res.writeHead(status, headers);
    res.write(head.subarray(split.end + split.skip));
    // The rest of the body as it comes, with backpressure.
    child.stdout.off('data', onHead);
    child.stdout.pipe(res);
  };
  child.stdout.on('data', onHead);
  child.on('close', (code) => {
    seen.backendStderr = stderr;
    if (started) return;
    seen.status = 500;
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`git http-backend exited with ${code} and no response\n${stderr}`);
  });
}

// Starts the server on 127.0.0.1 (port 0) with the given certificate; `dir` holds the repository, which
// has `branches` topic branches besides main.
// Resolves with {port, received, bare (the repository's path), head (its first commit), git(args) (git
// on the server's side), close()}.
export async function startGitServer({ key, cert, token, dir, branches = 0 }) {
  const repo = makeRepository(dir, branches);
  const received = [];
  const server = https.createServer({ key, cert }, (req, res) => {
    const seen = { method: req.method, url: req.url, authorization: req.headers.authorization,
                   contentEncoding: req.headers['content-encoding'],
                   transferEncoding: req.headers['transfer-encoding'], status: null };
    received.push(seen);
    const user = basicUser(req.headers.authorization, token);
    if (user === null) {
      req.resume();
      seen.status = 401;
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"', 'content-type': 'text/plain' });
      res.end('authentication required\n');
      return;
    }
    runBackend(repo, req, res, user, seen);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    received,
    bare: repo.bare,
    head: repo.head,
    git: (args) => git(repo.home, ['--git-dir', repo.bare, ...args]),
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
