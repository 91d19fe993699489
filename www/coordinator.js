// Coordinator worker: one per run. It owns everything heavy so the page's
// main thread only draws: it reads the input File in slices (never whole),
// or streams a Hub file over HTTP as it arrives (resuming dropped
// connections with Range + If-Range; see UrlSource),
// drives the wasm Compressor / Decompressor session, feeds a pool of codec
// workers with at most JOBS_PER_WORKER chunks each (bounded memory), and
// writes the output in order to the sink (a file the user picked, an Origin
// Private File System file, or a Blob for small outputs).
import { loadWasm } from './wasm-loader.js';

const JOBS_PER_WORKER = 2;
const PUSH_BYTES = 4 << 20;     // decompressor input slice
const READ_BLOCK = 4 << 20;     // small chunks are cut out of reads this big
const WRITE_BUFFER = 4 << 20;   // coalesce small frames into writes this big
const BLOB_LIMIT = 64 << 20;    // below this, the output may live in memory
const PROGRESS_MS = 100;
const STZ_MAGIC = [0x89, 0x53, 0x54, 0x5a, 0x0d, 0x0a, 0x1a, 0x0a]; // docs/FORMAT.md

class Cancelled extends Error { constructor() { super('cancelled'); this.name = 'Cancelled'; } }

let cancelled = false;
let pool = null;
let sink = null;
let ownMemory = null; // this worker's wasm memory, for the memory figures
let source = null;    // the compress input (its fetch statistics go into 'done')

const message = (e) => String(e?.message ?? e);

// Send a Uint8Array with its buffer transferred; copy views that do not own
// their whole buffer (e.g. views into wasm memory, which cannot be detached).
function own(u8) {
  return u8.byteOffset === 0 && u8.byteLength === u8.buffer.byteLength && !(u8.buffer instanceof SharedArrayBuffer)
    ? u8 : u8.slice();
}

/** The pool of codec workers; run() resolves with the worker's reply. */
class Pool {
  constructor(size, build) {
    this.pending = new Map();
    this.nextId = 0;
    this.failure = null;
    this.mem = new Array(size).fill(0); // last wasm memory size per worker
    this.workers = Array.from({ length: size }, (_, k) => {
      const w = new Worker(new URL('./codec-worker.js', import.meta.url), { type: 'module', name: `stzip codec ${k}` });
      w.load = 0;
      w.onmessage = ({ data }) => this.#reply(w, k, data);
      w.onerror = (e) => { e.preventDefault?.(); this.#fail(new Error(`codec worker failed: ${e.message || 'could not load'}`)); };
      w.postMessage({ type: 'init', wasm: build });
      return w;
    });
  }

  run(job, transfer) {
    if (this.failure) {
      const p = Promise.reject(this.failure);
      p.catch(() => {}); // awaited later, in order (or never, after a cancel)
      return p;
    }
    // Least-loaded worker: chunks differ in size, so round robin would stall.
    const w = this.workers.reduce((a, b) => (b.load < a.load ? b : a));
    w.load++;
    const id = this.nextId++;
    const p = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject, w }));
    p.catch(() => {}); // awaited later, in order (or never, after a cancel)
    w.postMessage({ ...job, id }, transfer);
    return p;
  }

  get wasmBytes() { return this.mem.reduce((a, b) => a + b, 0); }

  #reply(w, k, m) {
    if (m.type === 'fatal') return this.#fail(new Error(`codec worker could not load wasm: ${m.error}`));
    const job = this.pending.get(m.id);
    if (!job) return;
    this.pending.delete(m.id);
    w.load--;
    if (m.mem) this.mem[k] = m.mem;
    if (m.error) job.reject(new Error(m.error)); else job.resolve(m);
  }

  #fail(err) {
    this.failure ??= err;
    for (const job of this.pending.values()) job.reject(this.failure);
    this.pending.clear();
  }

  terminate(err = new Cancelled()) {
    for (const w of this.workers) w.terminate();
    this.#fail(err);
  }
}

/**
 * Reads a Blob front to back from `start`, never whole: one Blob slice per
 * big read; small reads (tiny tensors) are cut out of one READ_BLOCK slice,
 * as each slice is a round trip to the browser process. (A BYOB reader on
 * blob.stream() was faster, but stalled now and then in Chromium 156 with
 * several workers busy.) Reads are chained, so they can be issued ahead of
 * use to overlap I/O with other work.
 */
class SeqReader {
  constructor(blob, start) {
    this.blob = blob;
    this.pos = start;
    this.chain = Promise.resolve();
    this.block = new Uint8Array(0);
    this.blockAt = 0;
  }

  read(len) {
    const at = this.pos;
    this.pos += len;
    const p = this.chain.then(() => this.#read(at, len));
    this.chain = p.catch(() => {}); // also marks p handled when it is dropped after a cancel
    return p;
  }

  async #read(at, len) {
    if (cancelled) throw new Cancelled();
    if (len >= READ_BLOCK / 4) return readRange(this.blob, at, at + len);
    if (at + len > this.blob.size) throw new Error(`the file is truncated (needs ${at + len} bytes, has ${this.blob.size})`);
    if (at < this.blockAt || at + len > this.blockAt + this.block.length) {
      this.blockAt = at;
      this.block = await readRange(this.blob, at, Math.min(this.blob.size, at + READ_BLOCK));
    }
    return this.block.slice(at - this.blockAt, at - this.blockAt + len); // a copy: it gets transferred
  }
}

/** Reads `lens` in order, keeping `depth` reads in flight; next() resolves the next one. */
function readAhead(reader, lens, depth = 2) {
  let issued = 0;
  const queue = [];
  const fill = () => { while (issued < lens.length && queue.length < depth) queue.push(reader.read(lens[issued++])); };
  fill();
  return { next() { const p = queue.shift(); fill(); return p; } };
}

// ---- a file on the Hub, streamed as it arrives ----

const RETRIES = 6;              // failures in a row before giving up
const BACKOFF_MS = 250;         // first retry delay, doubled each time (capped)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let fetchAbort = new AbortController(); // Cancel aborts every fetch at once

/**
 * A Hub file: `resolveUrl` on the Hub origin redirects to a signed CDN URL.
 * The first GET follows the redirect (the browser drops the Authorization
 * header on the cross-origin hop); `response.url` is then the signed URL,
 * used without any token for resumes. An expired / refused signed URL
 * (401/403/410) is resolved again on the Hub. Resumes carry `Range` and
 * `If-Range: <ETag>`, so a file changed meanwhile is detected, not spliced.
 */
class UrlSource {
  constructor(spec) {
    this.name = spec.name;
    this.size = spec.size;
    this.resolveUrl = spec.resolveUrl;
    this.hubOrigin = new URL(spec.resolveUrl).origin;
    this.token = spec.token || '';
    this.signed = null; // the signed CDN URL, once known
    this.etag = null;
    this.stats = { requests: 0, resumes: 0, resolves: 0, bytes: 0 };
  }

  reader(start) { return new HttpReader(this, start); }

  /** A GET from byte `at` on: the signed URL when known, else through the Hub. */
  async open(at) {
    const range = {};
    if (at > 0) {
      range.Range = `bytes=${at}-`;
      if (this.etag) range['If-Range'] = this.etag;
    }
    let res = null;
    if (this.signed) {
      this.stats.requests++;
      res = await fetch(this.signed, { headers: range, cache: 'no-store', credentials: 'omit', signal: fetchAbort.signal });
      if ([401, 403, 410].includes(res.status)) { res.body?.cancel().catch(() => {}); this.signed = null; res = null; }
    }
    if (!res) {
      // Through the Hub: the token only on requests to the Hub origin (and the browser drops it on the redirect).
      const headers = { ...range };
      if (this.token) headers.Authorization = `Bearer ${this.token}`;
      this.stats.requests++;
      this.stats.resolves++;
      res = await fetch(this.resolveUrl, { headers, redirect: 'follow', cache: 'no-store', credentials: 'omit', signal: fetchAbort.signal });
      if (new URL(res.url).origin !== this.hubOrigin) this.signed = res.url;
    }
    if (res.status === 401 || res.status === 403) {
      throw fatal(`${this.name}: access refused (HTTP ${res.status}): the repo is gated or private — enter an access token with access to it.`);
    }
    if (res.status === 404) throw fatal(`${this.name} was not found on the Hub (HTTP 404).`);
    const etag = res.headers.get('ETag');
    if (at > 0 && res.status === 200) throw fatal(`${this.name} changed on the Hub during the download (its ETag no longer matches); start again.`);
    if (at > 0 && res.status !== 206) throw new Error(`HTTP ${res.status} for a resumed request`);
    if (at === 0 && res.status !== 200) throw new Error(`HTTP ${res.status}`);
    if (this.etag && etag && etag !== this.etag) throw fatal(`${this.name} changed on the Hub during the download (ETag ${etag} ≠ ${this.etag}); start again.`);
    this.etag ??= etag;
    if (at > 0) {
      const m = /^bytes (\d+)-\d+\/(\d+|\*)/.exec(res.headers.get('Content-Range') ?? '');
      if (!m || Number(m[1]) !== at) throw new Error(`the server resumed at the wrong place (${res.headers.get('Content-Range')})`);
    } else {
      const len = Number(res.headers.get('Content-Length'));
      if (Number.isFinite(this.size) && res.headers.has('Content-Length') && len !== this.size) {
        throw fatal(`${this.name}: the Hub lists ${this.size} bytes but sends ${len}.`);
      }
      if (!Number.isFinite(this.size) && res.headers.has('Content-Length')) this.size = len;
    }
    if (!res.body) throw new Error('no response body');
    return res.body.getReader();
  }
}

const fatal = (msg) => Object.assign(new Error(msg), { fatal: true });

/**
 * Sequential reads of exact lengths from a UrlSource, resuming on dropped
 * connections. A pump drains the response as it arrives into a queue of at
 * most AHEAD bytes (so network and coding overlap, and little sits in
 * socket buffers to be lost when a connection drops); reads take from it.
 */
const AHEAD = 16 << 20;
class HttpReader {
  constructor(src, start) {
    this.src = src;
    this.net = start;   // next byte to come from the network
    this.chain = Promise.resolve();
    this.body = null;
    this.queue = [];    // Uint8Arrays received, not yet read
    this.queued = 0;
    this.error = null;
    this.closed = false;
    this.pumping = false;
    this.wakeReader = null;
    this.wakePump = null;
  }

  read(len) {
    const p = this.chain.then(() => this.#read(len));
    this.chain = p.catch(() => {});
    return p;
  }

  close() {
    this.closed = true;
    this.body?.cancel().catch(() => {});
    this.body = null;
    this.queue = [];
    this.#wake('wakePump');
  }

  #wake(which) { const w = this[which]; this[which] = null; w?.(); }

  async #read(len) {
    if (!this.pumping) { this.pumping = true; this.#pump(); }
    const out = new Uint8Array(len);
    let n = 0;
    while (n < len) {
      if (cancelled) throw new Cancelled();
      if (this.queue.length) {
        const head = this.queue[0];
        const k = Math.min(len - n, head.length);
        out.set(head.subarray(0, k), n);
        n += k;
        this.queued -= k;
        if (k === head.length) this.queue.shift(); else this.queue[0] = head.subarray(k);
        this.#wake('wakePump');
      } else if (this.error) {
        throw this.error;
      } else if (this.net >= this.src.size) {
        throw fatal(`${this.src.name} is truncated (needs more than ${this.src.size} bytes)`);
      } else {
        await new Promise((r) => { this.wakeReader = r; });
      }
    }
    return out;
  }

  async #pump() {
    try {
      while (!this.closed && this.net < this.src.size) {
        if (this.queued >= AHEAD) { await new Promise((r) => { this.wakePump = r; }); continue; }
        const v = await this.#chunk();
        if (this.closed) break;
        this.queue.push(v);
        this.queued += v.length;
        this.#wake('wakeReader');
      }
    } catch (e) {
      this.error = e;
    }
    this.#wake('wakeReader');
  }

  /** The next bytes off the network; reconnects with backoff on failures. */
  async #chunk() {
    let failures = 0;
    for (;;) {
      try {
        if (!this.body) this.body = await this.src.open(this.net);
        const { done, value } = await this.body.read();
        if (done) {
          this.body = null;
          throw new Error('the connection closed early');
        }
        this.net += value.length;
        this.src.stats.bytes += value.length;
        return value;
      } catch (e) {
        if (cancelled || e.name === 'AbortError' || this.closed) throw new Cancelled();
        this.body?.cancel().catch(() => {});
        this.body = null;
        if (e.fatal) throw e;
        if (++failures > RETRIES) {
          throw new Error(`downloading ${this.src.name} failed ${failures} times in a row at byte ${this.net} (last: ${message(e)}); giving up.`);
        }
        this.src.stats.resumes++;
        post({ type: 'retry', name: this.src.name, at: this.net, attempt: failures, reason: message(e) });
        await sleep(Math.min(8000, BACKOFF_MS * 2 ** (failures - 1)));
      }
    }
  }
}

/** A File as a source: Blob slices. */
function blobSource(blob) {
  return { name: blob.name, size: blob.size, reader: (start) => new SeqReader(blob, start) };
}

async function readRange(blob, a, b) {
  if (b > blob.size) throw new Error(`the file is truncated (needs ${b} bytes, has ${blob.size})`);
  return new Uint8Array(await blob.slice(a, b).arrayBuffer());
}

// ---- sinks: write(u8, transient) / close() → result / abort() ----

async function fileHandleSink(handle) {
  const w = await handle.createWritable();
  return {
    kind: 'handle',
    write: (u8) => w.write(u8),
    close: async () => { await w.close(); return { kind: 'handle', name: handle.name }; },
    abort: () => w.abort().catch(() => {}),
  };
}

async function opfsSink(name) {
  const root = await navigator.storage.getDirectory();
  const fh = await root.getFileHandle(name, { create: true });
  const ah = await fh.createSyncAccessHandle(); // synchronous, fast: dedicated workers only
  ah.truncate(0);
  let at = 0;
  let open = true;
  return {
    kind: 'opfs',
    write(u8) {
      for (let n = 0; n < u8.length;) n += ah.write(u8.subarray(n), { at: at + n });
      at += u8.length;
    },
    close() { ah.flush(); ah.close(); open = false; return { kind: 'opfs', name }; },
    async abort() {
      if (open) { try { ah.close(); } catch {} open = false; }
      await root.removeEntry(name).catch(() => {});
    },
  };
}

function memorySink() {
  let parts = [];
  return {
    kind: 'memory',
    write(u8, transient) { parts.push(transient ? u8.slice() : u8); },
    close() { const blob = new Blob(parts, { type: 'application/octet-stream' }); parts = []; return { kind: 'memory', blob }; },
    abort() { parts = []; },
  };
}

/** Opens the sink the page asked for; 'auto' = memory when small, else OPFS. */
async function openSink(spec, expectedBytes) {
  if (spec.kind === 'handle') return fileHandleSink(spec.handle);
  if (spec.kind === 'memory' || (spec.kind === 'auto' && expectedBytes < BLOB_LIMIT)) return memorySink();
  if (typeof FileSystemSyncAccessHandle === 'undefined' || !navigator.storage?.getDirectory) {
    if (spec.kind === 'opfs') throw new Error('this browser has no Origin Private File System');
    post({ type: 'warning', message: 'No Origin Private File System here: the output is kept in memory.' });
    return memorySink();
  }
  return opfsSink(spec.name);
}

/** Coalesces small writes (many tiny tensors) into few large ones. */
class Output {
  constructor(inner) { this.inner = inner; this.buf = new Uint8Array(WRITE_BUFFER); this.fill = 0; this.bytes = 0; }
  async write(u8) {
    this.bytes += u8.length;
    // A big write goes straight through, after what is buffered (in order).
    if (this.fill + u8.length > this.buf.length || u8.length >= this.buf.length / 2) await this.flush();
    if (u8.length >= this.buf.length / 2) return this.inner.write(u8, false);
    this.buf.set(u8, this.fill);
    this.fill += u8.length;
  }
  async flush() {
    if (this.fill) await this.inner.write(this.buf.subarray(0, this.fill), true);
    this.fill = 0;
  }
  async close() { await this.flush(); return this.inner.close(); }
}

// ---- progress ----

const post = (m, transfer) => self.postMessage(m, transfer ?? []);
const wasmBytes = () => (pool?.wasmBytes ?? 0) + (ownMemory?.buffer.byteLength ?? 0);
let last = 0;
function progress(p, force = false) {
  const now = performance.now();
  if (!force && now - last < PROGRESS_MS) return;
  last = now;
  post({ type: 'progress', ...p, wasmBytes: wasmBytes() });
}

// ---- compress ----

async function compress(job, wasm) {
  const { mod } = wasm;
  const file = job.url ? new UrlSource(job.url) : blobSource(job.file);
  source = file;
  if (file.size < 8) throw new Error('not a .safetensors file: it is shorter than 8 bytes');
  // The header comes off the front of the first pass's reader (one request for a URL).
  const first = file.reader(0);
  const first8 = await first.read(8);
  if (STZ_MAGIC.every((b, i) => first8[i] === b)) throw new Error('this is an .stz file already: use Decompress');
  const hlen = mod.headerLength(first8);
  const head = new Uint8Array(hlen);
  head.set(first8);
  head.set(await first.read(hlen - 8), 8);
  const comp = new mod.Compressor(head, job.options);
  if (!Number.isFinite(file.size)) file.size = comp.fileLength; // a listing without sizes
  try {
    // Same checks as the CLI: the header says how long the file must be.
    if (file.size > comp.fileLength) throw new Error(`unexpected trailing bytes after the end of the safetensors data at offset ${comp.fileLength}`);
    if (file.size < comp.fileLength) throw new Error(`safetensors data truncated: file should be ${comp.fileLength} bytes, ended after ${file.size}`);
    const n = comp.chunkCount;
    const chunks = Array.from({ length: n }, (_, i) => comp.chunk(i));
    // Chunks tile the data section in file order, so one sequential read serves them all.
    chunks.forEach((c, i) => {
      const at = i ? chunks[i - 1].offset + chunks[i - 1].len : hlen;
      if (c.offset !== at) throw new Error(`chunk ${i} is not where the previous one ends (${c.offset} ≠ ${at})`);
    });
    const lens = chunks.map((c) => c.len);
    let firstUsed = false;
    const pass = () => {
      const r = firstUsed ? file.reader(hlen) : first; // lossy: a second pass is a second fetch
      firstUsed = true;
      return readAhead(r, lens);
    };
    const lossy = comp.needsStats();
    const p = { phase: 'code', read: hlen, readTotal: lossy ? 2 * file.size : file.size, written: 0, consumed: 0, total: file.size };

    if (lossy) {
      // Pass 1: statistics, so the quantizer step meets the size / SNR target.
      p.phase = 'stats';
      const input = pass();
      for (let i = 0; i < n; i++) {
        const bytes = await input.next();
        comp.observe(i, bytes);
        p.read += chunks[i].len;
        progress(p);
      }
      p.phase = 'step';
      progress(p, true);
      comp.chooseStep();
      if (cancelled) throw new Cancelled();
      p.phase = 'code';
      p.read = file.size + hlen;
    }

    sink = await openSink(job.sink, file.size);
    const out = new Output(sink);
    await out.write(comp.start());
    p.consumed = hlen;

    // Pass 2: code the chunks in parallel, append the frames in order.
    const limit = JOBS_PER_WORKER * pool.workers.length;
    const inflight = [];
    const input = pass();
    const split = newSplit();
    let next = 0;
    for (let i = 0; i < n; i++) {
      while (next < n && next - i < limit) {
        const c = chunks[next];
        const data = await timed(split, 'read', () => input.next());
        p.read += c.len;
        inflight.push(pool.run({ op: 'encode', dtype: c.dtype, rowLen: c.rowLen, step: comp.step(next), data }, [data.buffer]));
        next++;
      }
      const r = await timed(split, 'workers', () => inflight.shift());
      // Lossless chunks decode to their input, which the worker hands back.
      const frame = await timed(split, 'add', () => comp.add(i, r.payload, r.checksum, r.decoded ?? r.input, r.err2, r.sig2));
      await timed(split, 'write', () => out.write(frame));
      p.consumed += chunks[i].len;
      p.written = out.bytes;
      progress(p);
    }
    await out.write(comp.finish());
    p.consumed = file.size;
    p.written = out.bytes;
    progress(p, true);
    const result = await out.close();
    sink = null;
    return { result, report: comp.report(), outBytes: p.written, split };
  } finally {
    first.close?.();
    comp.free();
  }
}

// ---- decompress ----

async function decompress(job, wasm) {
  const { mod } = wasm;
  const file = job.file;
  const reader = new SeqReader(file, 0);
  const lens = [];
  for (let a = 0; a < file.size; a += PUSH_BYTES) lens.push(Math.min(PUSH_BYTES, file.size - a));
  const input = readAhead(reader, lens, 2);
  const d = new mod.Decompressor();
  try {
    const p = { phase: 'decode', read: 0, readTotal: file.size, written: 0, consumed: 0, total: file.size };
    const limit = JOBS_PER_WORKER * pool.workers.length;
    const inflight = []; // [seq, promise] in seq order
    let out = null;
    let ended = false;

    const split = newSplit();
    const drainOne = async () => {
      const [seq, promise] = inflight.shift();
      const r = await timed(split, 'workers', () => promise);
      await timed(split, 'add', () => d.add(seq, r.decoded));
      await timed(split, 'write', () => out.write(r.decoded));
      p.written = out.bytes;
      progress(p);
    };

    for (;;) {
      if (cancelled) throw new Cancelled();
      const ev = d.next();
      if (ev.kind === 'need') {
        if (p.read < file.size) {
          const bytes = await timed(split, 'read', () => input.next());
          d.push(bytes); // copied into wasm
          p.read += bytes.length;
          p.consumed = p.read;
          progress(p);
        } else if (!ended) {
          d.end();
          ended = true;
        } else {
          throw new Error('the .stz file is truncated');
        }
      } else if (ev.kind === 'header') {
        sink = await openSink(job.sink, ev.fileLength);
        out = new Output(sink);
        await out.write(ev.bytes);
      } else if (ev.kind === 'chunk') {
        while (inflight.length >= limit) await drainOne();
        const payload = own(ev.payload);
        inflight.push([ev.seq, pool.run({ op: 'decode', dtype: ev.dtype, len: ev.len, checksum: ev.checksum, payload }, [payload.buffer])]);
      } else if (ev.kind === 'end') {
        break;
      } else {
        throw new Error(`unexpected decompressor event ${ev.kind}`);
      }
    }
    while (inflight.length) await drainOne();
    const report = d.finish(); // throws if the whole-file checksum fails
    p.written = out.bytes;
    progress(p, true);
    const result = await out.close();
    sink = null;
    return { result, report, outBytes: p.written, split };
  } finally {
    d.free();
  }
}

// ---- messages from the page ----

/**
 * Where the coordinator's time goes, in ms: waiting for input, for the
 * workers, adding frames/chunks to the wasm session (copies and the
 * whole-file hash), and writing output. Reported to the benchmark.
 */
function newSplit() {
  return { read: 0, workers: 0, add: 0, write: 0 };
}

/** Awaits `work()` (a promise or a value) and adds its time to `split[key]`. */
async function timed(split, key, work) {
  const t = performance.now();
  try {
    return await work();
  } finally {
    split[key] += performance.now() - t;
  }
}

async function run(job) {
  const t0 = performance.now();
  try {
    const wasm = await loadWasm(job.wasm);
    ownMemory = wasm.memory;
    post({ type: 'build', build: wasm.build, info: wasm.info });
    const cores = navigator.hardwareConcurrency || 1;
    pool = new Pool(Math.max(1, Math.min(cores, job.workers || cores)), wasm.build);
    const { result, report, outBytes, split } = await (job.op === 'decompress' ? decompress : compress)(job, wasm);
    const peakWasmBytes = wasmBytes(); // wasm memories only grow: the last size is the peak
    post({ type: 'done', op: job.op, result, report, outBytes, split, ms: performance.now() - t0,
      build: wasm.build, info: wasm.info, workers: pool.workers.length, peakWasmBytes, fetch: source?.stats ?? null });
  } catch (e) {
    const wasCancelled = cancelled || e instanceof Cancelled;
    await sink?.abort();
    sink = null;
    post(wasCancelled ? { type: 'cancelled' } : { type: 'error', message: message(e) });
  } finally {
    pool?.terminate();
  }
}

self.onmessage = async ({ data: msg }) => {
  if (msg.type === 'cancel') {
    // Stop the pool at once; the running loop then unwinds, aborts the sink
    // and reports 'cancelled'. (The page terminates us anyway if we are stuck
    // in a long synchronous call such as chooseStep.)
    cancelled = true;
    fetchAbort.abort();
    pool?.terminate();
    return;
  }
  if (msg.type === 'compress' || msg.type === 'decompress') run({ ...msg, op: msg.type });
};
