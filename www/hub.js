// The Hugging Face Hub, from the page's main thread: parse what the user
// typed, list a repo's safetensors files, read each file's header with Range
// requests (no download), validate shard indexes, name the outputs.
//
// The token goes to the Hub origin only: every request here is to the Hub
// origin, and the one that is redirected (resolve → signed CDN URL) loses its
// Authorization header on the cross-origin hop (the browser drops it, per the
// Fetch standard). The token is never logged or put into a message.

export const DEFAULT_HUB = 'https://huggingface.co';
/** Largest safetensors header read for the listing (huggingface.js caps it at 25 MB too). */
const MAX_HEADER = 25_000_000;
/** The first Range read: enough for the length and most headers, in one request. */
const PEEK = 64 << 10;
const MAX_INDEX = 32 << 20;
const MAX_PAGES = 1000;

/** An error whose message is meant for the user as is. */
export class HubError extends Error {
  constructor(message, { status = 0, kind = 'hub' } = {}) { super(message); this.name = 'HubError'; this.status = status; this.kind = kind; }
}

/** A Hub base URL: an http(s) origin (plus an optional path prefix), no trailing slash. */
export function normalizeHub(text) {
  let u;
  try { u = new URL(String(text || DEFAULT_HUB).trim()); } catch { throw new HubError(`The Hub URL "${text}" is not a URL.`); }
  if (!/^https?:$/.test(u.protocol) || u.username || u.password || u.search || u.hash) {
    throw new HubError(`The Hub URL must be a plain http(s) URL, not "${text}".`);
  }
  return (u.origin + u.pathname).replace(/\/+$/, '');
}

const SEG = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;
const validId = (owner, name) => SEG.test(owner) && SEG.test(name) && !owner.includes('..') && !name.includes('..');

/**
 * What the user typed → { repo, revision, file }: "owner/name",
 * "hf://owner/name[@rev][/file]", or a Hub URL
 * ("https://huggingface.co/owner/name[/tree|blob|resolve/rev[/file]]").
 * `revision` is null when the input does not name one.
 */
export function parseRepoInput(text, hub = DEFAULT_HUB) {
  let s = String(text ?? '').trim();
  let revision = null;
  let file = null;
  let parts;
  if (/^https?:\/\//i.test(s)) {
    let u;
    try { u = new URL(s); } catch { throw new HubError(`"${s}" is not a valid URL.`); }
    let path = u.pathname;
    const prefix = new URL(hub).pathname.replace(/\/+$/, '');
    if (prefix && path.startsWith(prefix + '/')) path = path.slice(prefix.length);
    parts = path.split('/').filter(Boolean).map((p) => { try { return decodeURIComponent(p); } catch { return p; } });
    if (parts[0] === 'models') parts.shift();
    if (parts[0] === 'datasets' || parts[0] === 'spaces') throw new HubError('Only model repos are supported (not datasets or spaces).');
    const [owner, name, kind, rev, ...rest] = parts;
    if (kind !== undefined) {
      if (!['tree', 'blob', 'resolve'].includes(kind) || rev === undefined) throw new HubError(`"${s}" is not a model repo or file URL.`);
      revision = rev;
      if (rest.length) file = rest.join('/');
    }
    parts = [owner, name];
  } else {
    s = s.replace(/^hf:\/\//i, '');
    const m = /^([^/@]+)\/([^/@]+)(?:@([^/]+))?(?:\/(.+))?$/.exec(s);
    if (!m) throw new HubError(`"${s}" is not a repo id: type owner/name, e.g. openai-community/gpt2.`);
    parts = [m[1], m[2]];
    revision = m[3] ?? null;
    file = m[4] ?? null;
  }
  const [owner, name] = parts;
  if (!owner || !name || !validId(owner, name)) throw new HubError(`"${text}" is not a repo id: type owner/name, e.g. openai-community/gpt2.`);
  if (file !== null && pathProblem(file)) throw new HubError(`The file name "${file}" is not allowed: ${pathProblem(file)}.`);
  return { repo: `${owner}/${name}`, revision, file };
}

/** Why a repo path is not acceptable, or null (same rules as the CLI). */
export function pathProblem(p) {
  if (typeof p !== 'string' || !p || p.length > 1024) return 'empty or too long';
  if (p.includes('://')) return 'a URL, not a file name';
  if (p.startsWith('/') || p.startsWith('\\') || p[1] === ':') return 'an absolute path';
  if (p.includes('\\')) return 'contains a backslash';
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'contains control characters';
  if (p.split('/').includes('..')) return "a '..' component would leave the repo";
  if (p.split('/').some((x) => x === '' || x === '.')) return "an empty or '.' component";
  return null;
}

/** A local file name for a repo path: one component, no `..`, no reserved characters (as the CLI). */
export function outputName(path) {
  let n = String(path).replace(/[\u0000-\u001f\u007f-\u009f/\\:<>"|?*]/g, '_');
  while (n.includes('..')) n = n.replace(/\.\./g, '._');
  if (!n || n.startsWith('.')) n = `_${n}`;
  return n.slice(0, 200);
}

const enc = (path) => path.split('/').map(encodeURIComponent).join('/');

/** Talks to one Hub for one repo and revision, with an optional token. */
export class HubClient {
  constructor({ hub = DEFAULT_HUB, repo, revision = 'main', token = '' }) {
    this.hub = normalizeHub(hub);
    this.origin = new URL(this.hub).origin;
    this.repo = repo;
    this.revision = revision || 'main';
    this.token = token || '';
  }

  resolveUrl(path) { return `${this.hub}/${enc(this.repo)}/resolve/${encodeURIComponent(this.revision)}/${enc(path)}`; }

  /** Headers for a request to `url`: the token only when it goes to the Hub origin. */
  headers(url, extra = {}) {
    const h = { ...extra };
    if (this.token && new URL(url).origin === this.origin) h.Authorization = `Bearer ${this.token}`;
    return h;
  }

  async fetch(url, { what, headers = {}, signal } = {}) {
    let res;
    try {
      res = await fetch(url, { headers: this.headers(url, headers), redirect: 'follow', cache: 'no-store', credentials: 'omit', signal });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new HubError(`Could not reach ${new URL(url).origin} (${e.message}). Check the Hub URL and your connection` +
        ' (the page may only connect to the Hub origins its Content-Security-Policy lists).', { kind: 'network' });
    }
    if (res.ok) return res;
    throw await statusError(res, { repo: this.repo, revision: this.revision, what, token: !!this.token });
  }

  /** All files of the repo at the revision: [{ path, size }]. Tree API with Link pagination, else the revision API. */
  async listFiles(signal) {
    const files = [];
    let url = `${this.hub}/api/models/${enc(this.repo)}/tree/${encodeURIComponent(this.revision)}?recursive=true`;
    try {
      for (let page = 0; url; page++) {
        if (page >= MAX_PAGES) throw new HubError('The file listing has too many pages.');
        const res = await this.fetch(url, { what: 'repo', signal });
        const entries = await res.json();
        if (!Array.isArray(entries)) throw new HubError('The Hub answered the file listing with something that is not a list.');
        for (const e of entries) {
          if (e?.type === 'file' && typeof e.path === 'string') files.push({ path: e.path, size: Number(e.lfs?.size ?? e.size) });
        }
        url = nextLink(res.headers.get('Link'), this.hub);
      }
      return files;
    } catch (e) {
      if (!(e instanceof HubError) || e.status !== 404 || files.length) throw e;
      // Some mirrors lack the tree API: the revision API lists names (sizes come from the headers).
      const res = await this.fetch(`${this.hub}/api/models/${enc(this.repo)}/revision/${encodeURIComponent(this.revision)}`,
        { what: 'repo', signal });
      const info = await res.json();
      return (info?.siblings ?? []).filter((s) => typeof s?.rfilename === 'string').map((s) => ({ path: s.rfilename, size: NaN }));
    }
  }

  /** A small repo file (an index), size-capped. */
  async readText(path, limit, signal) {
    const res = await this.fetch(this.resolveUrl(path), { what: `file ${path}`, signal });
    const len = Number(res.headers.get('Content-Length'));
    if (len > limit) throw new HubError(`${path} is larger than ${limit} bytes.`);
    const buf = await res.arrayBuffer();
    if (buf.byteLength > limit) throw new HubError(`${path} is larger than ${limit} bytes.`);
    return new TextDecoder().decode(buf);
  }

  /**
   * A safetensors file's header, by Range requests: the first PEEK bytes,
   * then the rest of the header when it is longer. `mod` is the wasm module.
   * Returns { fileLength, tensors, params, size }.
   */
  async peekHeader(path, mod, signal) {
    const url = this.resolveUrl(path);
    const res = await this.fetch(url, { what: `file ${path}`, headers: { Range: `bytes=0-${PEEK - 1}` }, signal });
    const total = totalSize(res);
    let head = new Uint8Array(await res.arrayBuffer());
    if (res.status === 200 && head.length > PEEK) head = head.subarray(0, PEEK); // a server that ignores Range
    if (head.length < 8) throw new HubError(`${path} is not a safetensors file: it is shorter than 8 bytes.`);
    let hlen;
    try { hlen = mod.headerLength(head.subarray(0, 8)); } catch (e) { throw new HubError(`${path}: ${e.message ?? e}`); }
    if (hlen > MAX_HEADER) throw new HubError(`${path}: its header is larger than ${MAX_HEADER} bytes.`);
    if (head.length < hlen) {
      const more = await this.fetch(url, { what: `file ${path}`, headers: { Range: `bytes=${head.length}-${hlen - 1}` }, signal });
      if (more.status !== 206) throw new HubError(`${path}: the server does not answer Range requests.`);
      const rest = new Uint8Array(await more.arrayBuffer());
      const all = new Uint8Array(head.length + rest.length);
      all.set(head);
      all.set(rest, head.length);
      head = all;
    }
    if (head.length < hlen) throw new HubError(`${path}: the header is truncated.`);
    let s;
    try { s = mod.headerSummary(head.slice(0, hlen)); } catch (e) { throw new HubError(`${path}: ${e.message ?? e}`); }
    const params = s.params instanceof Map ? Object.fromEntries(s.params) : { ...s.params };
    return { fileLength: s.fileLength, tensors: s.tensors, params, size: total };
  }
}

/** The total size from a Content-Range (or, for a 200, Content-Length). */
function totalSize(res) {
  const m = /\/(\d+)\s*$/.exec(res.headers.get('Content-Range') ?? '');
  if (m) return Number(m[1]);
  return res.status === 200 ? Number(res.headers.get('Content-Length')) : NaN;
}

/** The rel="next" target of a Link header, only when it stays on the Hub. */
function nextLink(link, hub) {
  if (!link) return null;
  for (const part of link.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(part);
    if (!m) continue;
    const u = new URL(m[1], hub);
    if (u.origin !== new URL(hub).origin) throw new HubError('The file listing pointed to another site; refused.');
    return u.href;
  }
  return null;
}

/** A clear error for a failed Hub response. */
export async function statusError(res, { repo, revision, what = 'repo', token = false }) {
  let detail = res.headers.get('X-Error-Message') || '';
  const code = res.headers.get('X-Error-Code') || '';
  if (!detail) {
    try { const t = (await res.text()).slice(0, 300); detail = (JSON.parse(t)?.error ?? '') || ''; } catch { /* not JSON */ }
  }
  const s = res.status;
  if (s === 401 || s === 403) {
    return new HubError(token
      ? `The repo ${repo} is gated or private and this access token was refused (HTTP ${s}). Check the token, and that your account has been granted access to the repo.`
      : `The repo ${repo} is gated or private (HTTP ${s}): enter an access token (huggingface.co/settings/tokens) with access to it.`,
    { status: s, kind: 'auth' });
  }
  if (s === 404) {
    const which = code === 'RevisionNotFound' ? `Revision "${revision}" of ${repo} was not found`
      : code === 'EntryNotFound' || /^file /.test(what) ? `The ${what} was not found in ${repo} at revision "${revision}"`
      : code === 'RepoNotFound' || what === 'repo' ? `The repo ${repo} was not found (or revision "${revision}" does not exist)`
      : `${what} was not found`;
    return new HubError(`${which} (HTTP 404).`, { status: s, kind: 'notfound' });
  }
  return new HubError(`The Hub answered HTTP ${s} for the ${what}${detail ? `: ${detail.slice(0, 200)}` : ''}.`, { status: s });
}

/**
 * Validates a shard index (text) found at `indexPath`; returns
 * { doc, shards: [repo paths] }. Shard names must be plain .safetensors
 * files beside the index: no '..', absolute paths, URLs or folders.
 */
export function parseIndex(indexPath, text) {
  let doc;
  try { doc = JSON.parse(text); } catch (e) { throw new HubError(`${indexPath} is not valid JSON (${e.message}).`); }
  const map = doc?.weight_map;
  if (!map || typeof map !== 'object' || Array.isArray(map)) throw new HubError(`${indexPath} has no "weight_map" object.`);
  const dir = indexPath.includes('/') ? indexPath.slice(0, indexPath.lastIndexOf('/') + 1) : '';
  const shards = [];
  for (const [tensor, shard] of Object.entries(map)) {
    if (typeof shard !== 'string') throw new HubError(`${indexPath}: tensor "${tensor}" maps to a non-string.`);
    const why = pathProblem(shard) ?? (shard.includes('/') ? 'a shard must be a file beside the index, not in a folder'
      : !shard.endsWith('.safetensors') ? 'a shard must be a .safetensors file' : null);
    if (why) throw new HubError(`${indexPath} names a bad shard "${shard}": ${why}. Nothing was downloaded.`);
    if (!shards.includes(dir + shard)) shards.push(dir + shard);
  }
  if (!shards.length) throw new HubError(`${indexPath}: the weight_map is empty.`);
  return { doc, shards, dir };
}

/** The index with every shard renamed to its .stz output name, as pretty JSON (as the CLI writes it). */
export function rewriteIndex({ doc, dir }) {
  const out = structuredClone(doc);
  for (const [k, v] of Object.entries(out.weight_map)) out.weight_map[k] = outputName(`${dir}${v}.stz`);
  return `${JSON.stringify(out, null, 2)}\n`;
}

/**
 * The plan for a repo: which safetensors files to compress (index shards
 * validated), and the indexes to rewrite. files: [{ path, size }].
 */
export async function planRepo(client, files, only, signal) {
  const have = new Map(files.map((f) => [f.path, f]));
  if (only) {
    if (!have.has(only) && files.length) throw new HubError(`The file ${only} was not found in ${client.repo} at revision "${client.revision}".`);
    if (!only.endsWith('.safetensors')) throw new HubError(`${only} is not a .safetensors file.`);
    return { jobs: [{ path: only, size: have.get(only)?.size ?? NaN }], indexes: [] };
  }
  const indexes = [];
  for (const f of files) {
    if (!f.path.endsWith('.safetensors.index.json')) continue;
    const text = await client.readText(f.path, MAX_INDEX, signal);
    const idx = parseIndex(f.path, text);
    for (const s of idx.shards) if (!have.has(s)) throw new HubError(`${f.path} names the shard ${s}, which is not in the repo.`);
    indexes.push({ path: f.path, output: outputName(f.path), ...idx });
  }
  const jobs = files.filter((f) => f.path.endsWith('.safetensors')).map((f) => ({ path: f.path, size: f.size }));
  if (!jobs.length) throw new HubError(`${client.repo} has no .safetensors files at revision "${client.revision}".`);
  const taken = new Set();
  for (const j of jobs) {
    j.output = outputName(`${j.path}.stz`);
    if (taken.has(j.output)) throw new HubError(`Two files would both be saved as ${j.output}.`);
    taken.add(j.output);
  }
  return { jobs, indexes };
}
