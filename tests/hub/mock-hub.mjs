#!/usr/bin/env node
// A mock Hugging Face Hub for stzip's tests: dependency-free Node 20.
//
// Two HTTP servers on 127.0.0.1, two origins, as on the real Hub:
// - the Hub origin: the JSON API (tree listing with Link pagination,
//   revision info), `resolve` (a 302 to a signed CDN URL for LFS files, the
//   file itself for small ones), gated repos, a request log;
// - the CDN origin: signed, expiring URLs with CORS, ETag, HEAD, single
//   Range requests and If-Range, and connections cut on purpose mid-stream.
//
// Usage: node mock-hub.mjs [--hub-port P] [--cdn-port P] [--repos DIR]
//                          [--lifeline] [--max-seconds N]
// Ports default to 0 (free ports). When ready it prints one JSON line:
//   {"hub": "http://127.0.0.1:P1", "cdn": "http://127.0.0.1:P2", "repos": DIR}
// Repos are read from DIR/{owner}/{name}/; when DIR is missing or empty the
// standard test repos are generated into it first (into a temp dir without
// --repos). A repo's `.mock.json` (never listed) configures it:
//   {"gated": true, "expires_ms": 300, "cuts": {"file": [0.3, 0.6]},
//    "cut_pause_ms": 1000}
// `cuts[file][k]` cuts the (k+1)-th CDN GET of that file (socket destroyed)
// once the stream reaches that fraction of the file.
// Request log: GET {hub}/__log (JSON array), POST or GET {hub}/__log/reset.
// --lifeline exits when stdin closes (so a test that dies takes it along);
// --max-seconds (default 1800) stops it regardless.

import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';

const TOKEN = 'hf_testtoken';
const PAGE = 2; // tree entries per page, to exercise Link pagination

// ---------------------------------------------------------------- arguments
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const hubPort = Number(opt('--hub-port', '0'));
const cdnPort = Number(opt('--cdn-port', '0'));
const reposDir = path.resolve(opt('--repos', fs.mkdtempSync(path.join(os.tmpdir(), 'mock-hub-'))));
const maxSeconds = Number(opt('--max-seconds', '1800'));

// ------------------------------------------------------------ test data
/** mulberry32: a small seeded PRNG, so the repos are the same every run. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussF32(n, scale, rand) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u)) * scale;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

function toBytes(f32, dtype) {
  if (dtype === 'F32') return Buffer.from(f32.buffer, f32.byteOffset, f32.byteLength);
  // BF16: round to nearest even on the top 16 bits.
  const bits = new Uint32Array(f32.buffer, f32.byteOffset, f32.length);
  const out = Buffer.alloc(f32.length * 2);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    out.writeUInt16LE(((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff, i * 2);
  }
  return out;
}

/** A safetensors file from [name, dtype, shape, scale] in order. */
function safetensors(specs, seed) {
  const rand = rng(seed);
  const header = { __metadata__: { format: 'pt' } };
  const blobs = [];
  let offset = 0;
  for (const [name, dtype, shape, scale] of specs) {
    const n = shape.reduce((a, b) => a * b, 1);
    const bytes = toBytes(gaussF32(n, scale, rand), dtype);
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
    blobs.push(bytes);
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json), ...blobs]);
}

/** Tensors of a small Llama-style decoder: [name, dtype, shape, scale]. */
function llama({ vocab, hidden, inter, layers, dtype, first = 0, embed = true, head = true }) {
  const t = [];
  if (embed) t.push(['model.embed_tokens.weight', dtype, [vocab, hidden], 0.02]);
  for (let l = first; l < first + layers; l++) {
    const p = `model.layers.${l}`;
    t.push([`${p}.input_layernorm.weight`, dtype, [hidden], 0.1]);
    for (const m of ['q_proj', 'k_proj', 'v_proj', 'o_proj'])
      t.push([`${p}.self_attn.${m}.weight`, dtype, [hidden, hidden], 0.03]);
    t.push([`${p}.post_attention_layernorm.weight`, dtype, [hidden], 0.1]);
    t.push([`${p}.mlp.gate_proj.weight`, dtype, [inter, hidden], 0.03]);
    t.push([`${p}.mlp.up_proj.weight`, dtype, [inter, hidden], 0.03]);
    t.push([`${p}.mlp.down_proj.weight`, dtype, [hidden, inter], 0.02]);
  }
  if (head) {
    t.push(['model.norm.weight', dtype, [hidden], 0.1]);
    t.push(['lm_head.weight', dtype, [vocab, hidden], 0.02]);
  }
  return t;
}

function writeRepo(id, files, config) {
  const dir = path.join(reposDir, ...id.split('/'));
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), data);
  }
  if (config) fs.writeFileSync(path.join(dir, '.mock.json'), JSON.stringify(config));
}

function configJson(extra) {
  return JSON.stringify({ model_type: 'llama', architectures: ['LlamaForCausalLM'], tie_word_embeddings: false, ...extra }, null, 2);
}

/** Shards plus their index, as transformers writes them. */
function sharded(shardSpecs, seed) {
  const n = shardSpecs.length;
  const files = {};
  const weight_map = {};
  let total = 0;
  shardSpecs.forEach((specs, i) => {
    const name = `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
    files[name] = safetensors(specs, seed + i);
    for (const [t, dtype, shape] of specs) {
      weight_map[t] = name;
      total += shape.reduce((a, b) => a * b, 1) * (dtype === 'F32' ? 4 : 2);
    }
  });
  return { files, index: { metadata: { total_size: total }, weight_map } };
}

function generate() {
  const tiny = { vocab: 256, hidden: 64, inter: 172, layers: 2, dtype: 'F32' };
  writeRepo('test/tiny', {
    'model.safetensors': safetensors(llama(tiny), 1),
    'config.json': configJson({ hidden_size: 64 }),
    'README.md': '# tiny\n',
  });

  const base = { vocab: 512, hidden: 128, inter: 344, dtype: 'BF16' };
  const s = sharded([
    llama({ ...base, layers: 1, first: 0, head: false }),
    llama({ ...base, layers: 2, first: 1, embed: false, head: false }),
    llama({ ...base, layers: 1, first: 3, embed: false }),
  ], 10);
  writeRepo('test/sharded', {
    ...s.files,
    'model.safetensors.index.json': JSON.stringify(s.index, null, 2),
    'config.json': configJson({ hidden_size: 128 }),
  });

  writeRepo('test/gated', {
    'model.safetensors': safetensors(llama({ ...tiny, layers: 1 }), 20),
    'config.json': configJson({}),
  }, { gated: true });

  // ~26 MB: more than three 8 MiB chunks, so the cuts fall mid-file.
  writeRepo('test/flaky', {
    'model.safetensors': safetensors(llama({ vocab: 1000, hidden: 512, inter: 1376, layers: 2, dtype: 'F32' }), 30),
  }, { cuts: { 'model.safetensors': [0.35, 0.7] } });

  // Signed URLs live 300 ms; the one cut comes after a 1 s pause, so the
  // resume finds its URL expired and must resolve again.
  writeRepo('test/expiring', {
    'model.safetensors': safetensors(llama({ vocab: 512, hidden: 256, inter: 688, layers: 1, dtype: 'F32' }), 40),
  }, { expires_ms: 300, cuts: { 'model.safetensors': [0.5] }, cut_pause_ms: 1000 });

  const e = sharded([llama({ ...tiny, layers: 1 })], 50);
  e.index.weight_map['lm_head.weight'] = '../x.safetensors';
  writeRepo('test/evil', {
    ...e.files,
    'model.safetensors.index.json': JSON.stringify(e.index, null, 2),
  });
}

if (!fs.existsSync(reposDir) || fs.readdirSync(reposDir).length === 0) {
  fs.mkdirSync(reposDir, { recursive: true });
  generate();
}

// ------------------------------------------------------------ repo index
/** repo id → {dir, sha, config, files: [{path, size, sha256, oid, lfs}]} */
const repos = new Map();
/** sha256 → absolute path, for the CDN. */
const blobs = new Map();

function hashFile(file) {
  const sha256 = crypto.createHash('sha256');
  const sha1 = crypto.createHash('sha1');
  const size = fs.statSync(file).size;
  sha1.update(`blob ${size}\0`);
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(1 << 22);
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    sha256.update(buf.subarray(0, n));
    sha1.update(buf.subarray(0, n));
  }
  fs.closeSync(fd);
  return { size, sha256: sha256.digest('hex'), oid: sha1.digest('hex') };
}

function listFiles(dir, prefix = '') {
  const out = [];
  for (const ent of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix + ent.name;
    if (ent.isDirectory()) out.push(...listFiles(path.join(dir, ent.name), rel + '/'));
    else if (ent.name !== '.mock.json') out.push(rel);
  }
  return out;
}

for (const owner of fs.readdirSync(reposDir)) {
  const ownerDir = path.join(reposDir, owner);
  if (!fs.statSync(ownerDir).isDirectory()) continue;
  for (const name of fs.readdirSync(ownerDir)) {
    const dir = path.join(ownerDir, name);
    if (!fs.statSync(dir).isDirectory()) continue;
    const id = `${owner}/${name}`;
    const cfgFile = path.join(dir, '.mock.json');
    const config = fs.existsSync(cfgFile) ? JSON.parse(fs.readFileSync(cfgFile, 'utf8')) : {};
    const files = listFiles(dir).map((rel) => {
      const h = hashFile(path.join(dir, rel));
      const lfs = rel.endsWith('.safetensors') || rel.endsWith('.stz') || h.size > 10 << 20;
      if (lfs) blobs.set(h.sha256, path.join(dir, rel));
      return { path: rel, size: h.size, sha256: h.sha256, oid: h.oid, lfs, abs: path.join(dir, rel) };
    });
    const sha = crypto.createHash('sha1').update(id + files.map((f) => f.oid).join()).digest('hex');
    repos.set(id, { id, dir, sha, config, files, gets: new Map() });
  }
}

// ------------------------------------------------------------ request log
let log = [];
function record(origin, req) {
  const u = new URL(req.url, 'http://x');
  const auth = req.headers.authorization;
  const entry = {
    origin,
    method: req.method,
    path: u.pathname + u.search,
    authorization: auth ?? null,
    has_authorization: auth !== undefined,
    range: req.headers.range ?? null,
    if_range: req.headers['if-range'] ?? null,
    origin_header: req.headers.origin ?? null,
    status: 0,
    bytes: 0,
    cut: false,
    time_ms: Date.now(),
  };
  log.push(entry);
  return entry;
}

// ------------------------------------------------------------ helpers
const secret = crypto.randomBytes(16);
const sign = (sha, expires) => crypto.createHmac('sha256', secret).update(`${sha}:${expires}`).digest('hex').slice(0, 32);

function cors(req, res, exposed) {
  // Reflect the page's origin (Authorization is never covered by `*`).
  res.setHeader('Access-Control-Allow-Origin', req.headers.origin ?? '*');
  res.setHeader('Vary', 'Origin');
  res.setHeader('Access-Control-Expose-Headers', exposed);
}

function preflight(req, res, entry) {
  res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, POST, OPTIONS');
  res.setHeader('Access-Control-Allow-Headers', req.headers['access-control-request-headers'] ?? 'Authorization, Range, If-Range');
  res.setHeader('Access-Control-Max-Age', '600');
  entry.status = 204;
  res.writeHead(204);
  res.end();
}

function send(res, entry, status, body, headers = {}) {
  const buf = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  entry.status = status;
  entry.bytes = buf.length;
  res.writeHead(status, {
    'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
    'Content-Length': buf.length,
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : buf);
}

const HUB_EXPOSED = 'Link, ETag, Content-Length, Content-Range, Accept-Ranges, Location, X-Repo-Commit, X-Linked-Size, X-Linked-Etag, X-Error-Code, X-Error-Message';
const CDN_EXPOSED = 'Content-Range, ETag, Content-Length, Accept-Ranges';

function checkAuth(repo, req, res, entry) {
  if (!repo.config.gated) return true;
  const auth = req.headers.authorization;
  if (auth === `Bearer ${TOKEN}`) return true;
  const status = auth === undefined ? 401 : 403;
  const message = auth === undefined
    ? `Access to model ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.`
    : `Access to model ${repo.id} is restricted and you are not in the authorized list.`;
  send(res, entry, status, { error: message }, { 'X-Error-Code': 'GatedRepo', 'X-Error-Message': message });
  return false;
}

function revOk(repo, rev) {
  return rev === 'main' || rev === repo.sha;
}

/**
 * Parse `/{owner}/{name}/{rest}` where the repo id is the longest known
 * prefix (ids have exactly two segments here).
 */
function splitRepo(segments) {
  if (segments.length < 2) return null;
  return { id: `${segments[0]}/${segments[1]}`, rest: segments.slice(2) };
}

/**
 * Stream `file` bytes [start, end] to `res`, cutting the connection at
 * `cutAt` (absolute offset) when given.
 */
function streamFile(file, start, end, res, entry, cutAt, pauseMs) {
  const last = cutAt !== null && cutAt <= end ? Math.max(cutAt - 1, start) : end;
  const rs = fs.createReadStream(file, { start, end: last, highWaterMark: 1 << 20 });
  res.on('close', () => rs.destroy());
  rs.on('data', (chunk) => {
    entry.bytes += chunk.length;
    if (!res.write(chunk)) rs.pause();
  });
  res.on('drain', () => rs.resume());
  rs.on('end', () => {
    if (last < end) {
      entry.cut = true;
      setTimeout(() => res.socket?.destroy(), pauseMs);
    } else {
      res.end();
    }
  });
  rs.on('error', () => res.socket?.destroy());
}

// ------------------------------------------------------------ Hub origin
let hubBase = '';
let cdnBase = '';

function handleHub(req, res) {
  const entry = record('hub', req);
  cors(req, res, HUB_EXPOSED);
  if (req.method === 'OPTIONS') return preflight(req, res, entry);
  const u = new URL(req.url, hubBase);
  const segs = u.pathname.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));

  if (u.pathname === '/__log') return send(res, entry, 200, log);
  if (u.pathname === '/__log/reset') {
    log = [];
    return send(res, entry, 200, { ok: true });
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, entry, 405, { error: 'method not allowed' });

  if (segs[0] === 'api' && segs[1] === 'models') {
    const r = splitRepo(segs.slice(2));
    const repo = r && repos.get(r.id);
    if (!repo) return send(res, entry, 404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
    if (!checkAuth(repo, req, res, entry)) return;
    const [kind, rev] = r.rest;
    if ((kind === 'tree' || kind === 'revision') && rev !== undefined && !revOk(repo, rev)) {
      return send(res, entry, 404, { error: `Invalid rev id: ${rev}` }, { 'X-Error-Code': 'RevisionNotFound' });
    }
    if (kind === 'tree' && rev !== undefined) {
      const sub = r.rest.slice(2).join('/');
      const all = repo.files.filter((f) => sub === '' || f.path.startsWith(sub + '/'));
      const cursor = Number(Buffer.from(u.searchParams.get('cursor') ?? 'MA==', 'base64').toString()) || 0;
      const page = all.slice(cursor, cursor + PAGE).map((f) => ({
        type: 'file',
        oid: f.oid,
        size: f.size,
        path: f.path,
        ...(f.lfs ? { lfs: { oid: f.sha256, size: f.size, pointerSize: 134 } } : {}),
      }));
      const headers = {};
      if (cursor + PAGE < all.length) {
        const next = new URL(u.pathname, hubBase);
        for (const [k, v] of u.searchParams) if (k !== 'cursor') next.searchParams.set(k, v);
        next.searchParams.set('cursor', Buffer.from(String(cursor + PAGE)).toString('base64'));
        headers.Link = `<${next.href}>; rel="next"`;
      }
      return send(res, entry, 200, page, headers);
    }
    if (kind === 'revision' && rev !== undefined) {
      return send(res, entry, 200, {
        _id: repo.sha.slice(0, 24),
        id: repo.id,
        modelId: repo.id,
        sha: repo.sha,
        private: false,
        gated: repo.config.gated ? 'manual' : false,
        siblings: repo.files.map((f) => ({ rfilename: f.path })),
      });
    }
    if (kind === undefined) {
      return send(res, entry, 200, { id: repo.id, sha: repo.sha, siblings: repo.files.map((f) => ({ rfilename: f.path })) });
    }
    return send(res, entry, 404, { error: 'not found' });
  }

  const r = splitRepo(segs);
  if (r && r.rest[0] === 'resolve' && r.rest.length >= 3) {
    const repo = repos.get(r.id);
    if (!repo) return send(res, entry, 404, 'Repository not found', { 'X-Error-Code': 'RepoNotFound' });
    if (!checkAuth(repo, req, res, entry)) return;
    const rev = r.rest[1];
    if (!revOk(repo, rev)) return send(res, entry, 404, `Invalid rev id: ${rev}`, { 'X-Error-Code': 'RevisionNotFound' });
    const file = repo.files.find((f) => f.path === r.rest.slice(2).join('/'));
    if (!file) return send(res, entry, 404, 'Entry not found', { 'X-Error-Code': 'EntryNotFound' });
    const common = { 'X-Repo-Commit': repo.sha, ETag: `"${file.lfs ? file.sha256 : file.oid}"` };
    if (file.lfs) {
      const expires = Date.now() + (repo.config.expires_ms ?? 3600_000);
      const loc = `${cdnBase}/files/${file.sha256}?expires=${expires}&sig=${sign(file.sha256, expires)}`;
      return send(res, entry, 302, `Found. Redirecting to ${loc}`, {
        ...common,
        Location: loc,
        'X-Linked-Size': String(file.size),
        'X-Linked-Etag': `"${file.sha256}"`,
      });
    }
    // Small files come straight from the Hub origin (with Range support).
    return serveFile(req, res, entry, file.abs, file.size, common.ETag, null, 0, common);
  }
  return send(res, entry, 404, { error: 'not found' });
}

/** Answer GET/HEAD for a file with Range and If-Range. */
function serveFile(req, res, entry, abs, size, etag, cutAt, pauseMs, extra = {}) {
  let start = 0;
  let end = size - 1;
  let status = 200;
  const range = req.headers.range;
  const ifRange = req.headers['if-range'];
  const m = range && /^bytes=(\d*)-(\d*)$/.exec(range.trim());
  if (m && (ifRange === undefined || ifRange === etag) && !(m[1] === '' && m[2] === '')) {
    if (m[1] === '') {
      start = Math.max(0, size - Number(m[2]));
    } else {
      start = Number(m[1]);
      if (m[2] !== '') end = Math.min(end, Number(m[2]));
    }
    if (start >= size || start > end) {
      return send(res, entry, 416, 'Range Not Satisfiable', { 'Content-Range': `bytes */${size}` });
    }
    status = 206;
  }
  const headers = {
    ...extra,
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(end - start + 1),
    'Accept-Ranges': 'bytes',
    ETag: etag,
  };
  if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  entry.status = status;
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || size === 0) return res.end();
  streamFile(abs, start, end, res, entry, cutAt, pauseMs);
}

// ------------------------------------------------------------ CDN origin
function handleCdn(req, res) {
  const entry = record('cdn', req);
  cors(req, res, CDN_EXPOSED);
  if (req.method === 'OPTIONS') return preflight(req, res, entry);
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, entry, 405, 'method not allowed');
  const u = new URL(req.url, cdnBase);
  const m = /^\/files\/([0-9a-f]{64})$/.exec(u.pathname);
  const abs = m && blobs.get(m[1]);
  if (!abs) return send(res, entry, 404, '<Error><Code>NoSuchKey</Code></Error>');
  const expires = Number(u.searchParams.get('expires'));
  if (u.searchParams.get('sig') !== sign(m[1], u.searchParams.get('expires'))) {
    return send(res, entry, 403, '<Error><Code>AccessDenied</Code><Message>Invalid signature</Message></Error>');
  }
  if (!(Date.now() <= expires)) {
    return send(res, entry, 403, '<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
  }
  // Which repo file is this, for its configured cuts?
  let cutAt = null;
  let pauseMs = 0;
  let size = 0;
  for (const repo of repos.values()) {
    const f = repo.files.find((x) => x.sha256 === m[1]);
    if (!f) continue;
    size = f.size;
    if (req.method === 'GET') {
      const n = repo.gets.get(f.path) ?? 0;
      repo.gets.set(f.path, n + 1);
      const cuts = repo.config.cuts?.[f.path] ?? [];
      if (n < cuts.length) {
        cutAt = Math.floor(cuts[n] * f.size);
        pauseMs = repo.config.cut_pause_ms ?? 0;
      }
    }
    break;
  }
  serveFile(req, res, entry, abs, size, `"${m[1]}"`, cutAt, pauseMs);
}

// ------------------------------------------------------------ start
function listen(handler, port) {
  return new Promise((resolve) => {
    const server = http.createServer(handler);
    server.keepAliveTimeout = 5000;
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const hub = await listen(handleHub, hubPort);
const cdn = await listen(handleCdn, cdnPort);
hubBase = `http://127.0.0.1:${hub.address().port}`;
cdnBase = `http://127.0.0.1:${cdn.address().port}`;
process.stdout.write(JSON.stringify({ hub: hubBase, cdn: cdnBase, repos: reposDir }) + '\n');

const stop = () => process.exit(0);
if (args.includes('--lifeline')) {
  process.stdin.resume();
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
}
setTimeout(stop, maxSeconds * 1000).unref();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
