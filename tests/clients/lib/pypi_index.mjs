// A private Python package index over HTTPS, as pip sees one: PEP 503's simple API (/simple/ and
// /simple/<normalized name>/, HTML links carrying #sha256=) and the wheel files themselves under /files/.
// Every request must carry HTTP Basic `__token__:<token>` (the form PyPI-like registries use for API
// tokens); anything else gets 401 with a Basic challenge, so a placeholder that reached the index
// unswapped fails loudly. Each request is kept in `received` ({method, url, authorization, status}).
//
// The index serves two tiny pure-Python wheels, lab-greeting 1.0 which requires lab-words 1.0, so that
// a client must resolve a dependency through the same authenticated index. The wheels are built once per
// process, with fixed timestamps so that their bytes (and sha256) are the same on every run.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import https from 'node:https';

const kPython = '/usr/bin/python3';

// name, version, top-level module, its source, and its requirements (PEP 508 strings).
export const kPackages = [
  {
    name: 'lab-greeting', version: '1.0', module: 'lab_greeting', requires: ['lab-words==1.0'],
    source: 'from lab_words import WORD\n\n\ndef greet(name):\n    return f"{WORD}, {name}, from lab-greeting"\n',
  },
  { name: 'lab-words', version: '1.0', module: 'lab_words', requires: [], source: 'WORD = "hello"\n' },
];

// What `import lab_greeting; print(lab_greeting.greet("airlock"))` prints.
export const kGreeting = 'hello, airlock, from lab-greeting';

// PEP 503 name normalization.
export function normalize(name) {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

export function wheelName(pkg) {
  return `${pkg.name.replace(/[-_.]+/g, '_')}-${pkg.version}-py3-none-any.whl`;
}

// RECORD's hash form: sha256, urlsafe base64 without padding.
function recordHash(data) {
  return `sha256=${crypto.createHash('sha256').update(data).digest('base64url')}`;
}

// The files of a wheel (PEP 427): the module, METADATA, WHEEL and RECORD (which lists the others).
function wheelFiles(pkg) {
  const distInfo = `${pkg.name.replace(/[-_.]+/g, '_')}-${pkg.version}.dist-info`;
  const files = {
    [`${pkg.module}/__init__.py`]: pkg.source,
    [`${distInfo}/METADATA`]: ['Metadata-Version: 2.1', `Name: ${pkg.name}`, `Version: ${pkg.version}`,
                               'Summary: A package of the Airlock client tests',
                               ...pkg.requires.map((r) => `Requires-Dist: ${r}`), ''].join('\n'),
    [`${distInfo}/WHEEL`]: 'Wheel-Version: 1.0\nGenerator: airlock-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
  };
  const record = Object.entries(files)
    .map(([name, text]) => `${name},${recordHash(Buffer.from(text))},${Buffer.byteLength(text)}\n`).join('');
  files[`${distInfo}/RECORD`] = `${record}${distInfo}/RECORD,,\n`;
  return files;
}

// Python's zipfile writes the archive (entries dated 1980-01-01, so the bytes are reproducible).
const kZipScript = `
import io, json, sys, zipfile
files = json.load(sys.stdin)
out = io.BytesIO()
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for name, text in files.items():
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, text)
sys.stdout.buffer.write(out.getvalue())
`;

let built = null;

// {filename: {pkg, data (Buffer), sha256 (hex)}} for every package of kPackages.
export function buildWheels() {
  if (built) return built;
  built = {};
  for (const pkg of kPackages) {
    const data = execFileSync(kPython, ['-c', kZipScript], { input: JSON.stringify(wheelFiles(pkg)),
                                                             maxBuffer: 16 * 1024 * 1024 });
    built[wheelName(pkg)] = { pkg, data, sha256: crypto.createHash('sha256').update(data).digest('hex') };
  }
  return built;
}

export function basicAuthorization(user, password) {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

function page(title, links) {
  const body = links.map(({ href, text }) => `    <a href="${href}">${text}</a><br/>`).join('\n');
  return `<!DOCTYPE html>\n<html>\n  <head><meta name="pypi:repository-version" content="1.0"><title>${title}</title></head>\n` +
         `  <body>\n    <h1>${title}</h1>\n${body}\n  </body>\n</html>\n`;
}

// Starts the index on 127.0.0.1 (port 0) with the given certificate. Resolves with
// {port, received, wheels, close()}.
export async function startPypiIndex({ key, cert, token }) {
  const wheels = buildWheels();
  const expected = basicAuthorization('__token__', token);
  const received = [];
  const server = https.createServer({ key, cert }, (req, res) => {
    const seen = { method: req.method, url: req.url, authorization: req.headers.authorization, status: null };
    received.push(seen);
    const send = (status, headers, body) => {
      seen.status = status;
      res.writeHead(status, { 'content-length': Buffer.byteLength(body), ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    req.resume();
    if (req.headers.authorization !== expected) {
      send(401, { 'www-authenticate': 'Basic realm="pypi"', 'content-type': 'text/plain' }, 'unauthorized\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }, 'method not allowed\n');
      return;
    }
    const { pathname } = new URL(req.url, 'https://index.invalid');
    // Cacheable as a real index's answers are, so that pip's HTTP cache (under HOME) fills and is searched.
    const html = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'max-age=600, public' };
    if (pathname === '/simple/') {
      const names = [...new Set(kPackages.map((p) => normalize(p.name)))];
      send(200, html, page('Simple index', names.map((n) => ({ href: `${n}/`, text: n }))));
      return;
    }
    const project = /^\/simple\/([^/]+)\/$/.exec(pathname);
    if (project) {
      const files = Object.entries(wheels).filter(([, w]) => normalize(w.pkg.name) === project[1]);
      if (files.length === 0) {
        send(404, { 'content-type': 'text/plain' }, 'no such project\n');
        return;
      }
      send(200, html, page(`Links for ${project[1]}`,
                           files.map(([file, w]) => ({ href: `../../files/${file}#sha256=${w.sha256}`, text: file }))));
      return;
    }
    const file = /^\/files\/([^/]+)$/.exec(pathname);
    if (file && wheels[file[1]]) {
      send(200, { 'content-type': 'application/octet-stream', 'cache-control': 'max-age=31536000, immutable' },
           wheels[file[1]].data);
      return;
    }
    send(404, { 'content-type': 'text/plain' }, 'not found\n');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    received,
    wheels,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
