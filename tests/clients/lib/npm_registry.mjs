// A minimal npm registry over HTTPS, enough for `npm install` and `npm publish`: packuments
// (GET /<name>, scoped names as /@scope%2fname or /@scope/name), tarballs (GET /<name>/-/<file>.tgz)
// with sha512 integrity and sha1 shasum, and PUT /<name> for publish (the attachment is kept and served
// like any other tarball). It accepts only `Authorization: Bearer <token>`: anything else gets 401, a JSON
// error and WWW-Authenticate, the way a private registry answers. Every request is recorded, so a test can
// check what credentials each one carried.
import crypto from 'node:crypto';
import https from 'node:https';
import zlib from 'node:zlib';

// One ustar header block; `size` 0 and type '5' for a directory.
function tarHeader(name, size, type) {
  const block = Buffer.alloc(512);
  const field = (offset, length, value) => block.write(value, offset, length, 'ascii');
  const octal = (offset, length, value) => field(offset, length, value.toString(8).padStart(length - 1, '0') + '\0');
  field(0, 100, name);
  octal(100, 8, type === '5' ? 0o755 : 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 1_700_000_000);
  field(148, 8, '        ');  // the checksum is computed with its own field as spaces
  field(156, 1, type);
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  let sum = 0;
  for (const byte of block) sum += byte;
  field(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return block;
}

// A gzipped tarball of `files` ({relative path: text}) under package/, the layout npm expects.
export function makeTarball(files) {
  const parts = [tarHeader('package/', 0, '5')];
  for (const [name, text] of Object.entries(files)) {
    const data = Buffer.from(text);
    parts.push(tarHeader(`package/${name}`, data.length, '0'), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return zlib.gzipSync(Buffer.concat(parts));
}

// The tarball file name npm uses: the name without its scope.
function tarballFile(name, version) {
  return `${name.split('/').pop()}-${version}.tgz`;
}

// Starts the registry on 127.0.0.1 (port 0). `host` is the name clients use for it, for the tarball URLs.
// Returns {port, url, received, published, addPackage, close}:
//   received   [{method, url, authorization, bodyBytes}] for every request, in order
//   published  [{name, version, tarball (Buffer), authorization}] for every accepted PUT
//   addPackage({name, version, dependencies, files}) seeds a version before a test
export async function startNpmRegistry({ key, cert, token, host = 'registry.internal.test' }) {
  const packages = new Map();   // name → {versions: {version: manifest}, 'dist-tags'}
  const tarballs = new Map();   // url path → Buffer
  const received = [];
  const published = [];
  let base = '';

  const addVersion = (manifest, tarball) => {
    const { name, version } = manifest;
    const tarballPath = `/${name}/-/${tarballFile(name, version)}`;
    tarballs.set(tarballPath, tarball);
    const packument = packages.get(name) ?? { name, 'dist-tags': {}, versions: {} };
    packument.versions[version] = {
      ...manifest,
      _id: `${name}@${version}`,
      dist: {
        tarball: `${base}${tarballPath}`,
        integrity: `sha512-${crypto.createHash('sha512').update(tarball).digest('base64')}`,
        shasum: crypto.createHash('sha1').update(tarball).digest('hex'),
      },
    };
    packument['dist-tags'].latest = version;
    packages.set(name, packument);
  };

  const addPackage = ({ name, version, dependencies = {}, files }) => {
    const manifest = { name, version, main: 'index.js', dependencies };
    addVersion(manifest, makeTarball({ 'package.json': JSON.stringify(manifest, null, 2), ...files }));
  };

  const send = (res, status, body, headers = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  };

  // PUT /<name> as npm publish sends it: the manifest of the new version and its tarball, base64.
  const publish = (name, body, authorization, res) => {
    let doc;
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      return send(res, 400, { error: 'the body is not JSON' });
    }
    const versions = Object.values(doc.versions ?? {});
    const attachments = Object.values(doc._attachments ?? {});
    if (doc.name !== name || versions.length !== 1 || attachments.length !== 1) {
      return send(res, 400, { error: 'expected one version and one attachment for this package' });
    }
    const manifest = versions[0];
    if (packages.get(name)?.versions[manifest.version]) {
      return send(res, 403, { error: `cannot publish over ${name}@${manifest.version}` });
    }
    const tarball = Buffer.from(attachments[0].data, 'base64');
    const integrity = `sha512-${crypto.createHash('sha512').update(tarball).digest('base64')}`;
    if (manifest.dist?.integrity !== integrity) {
      return send(res, 400, { error: 'the attachment does not match dist.integrity' });
    }
    const { dist, ...rest } = manifest;
    addVersion(rest, tarball);
    published.push({ name, version: manifest.version, tarball, authorization });
    return send(res, 201, { ok: true, id: name });
  };

  const handle = (req, res, body) => {
    const authorization = req.headers.authorization;
    received.push({ method: req.method, url: req.url, authorization, bodyBytes: body.length });
    if (authorization !== `Bearer ${token}`) {
      return send(res, 401, { error: 'authentication required' }, { 'www-authenticate': 'Bearer realm="registry"' });
    }
    const path = decodeURIComponent(new URL(req.url, 'https://registry').pathname);
    if (req.method === 'GET' && tarballs.has(path)) {
      const tarball = tarballs.get(path);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': tarball.length });
      return res.end(tarball);
    }
    const name = path.slice(1);
    if (req.method === 'GET' && packages.has(name)) return send(res, 200, packages.get(name));
    if (req.method === 'PUT' && /^(@[^/]+\/)?[^/@][^/]*$/.test(name)) return publish(name, body, authorization, res);
    return send(res, 404, { error: 'not found' });
  };

  const server = https.createServer({ key, cert }, (req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  base = `https://${host}:${port}`;
  return {
    port,
    url: `${base}/`,
    received,
    published,
    addPackage,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}
