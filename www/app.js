// Main thread: UI only. Each run gets its own coordinator worker (which owns
// the wasm session and the codec worker pool), so Cancel is a terminate() and
// a second run starts from a clean slate.
import { chooseBuild, loadWasm } from './wasm-loader.js';
import { fmtBytes, renderChart, renderTable, renderTotals } from './report.js';
import { DEFAULT_HUB, HubClient, HubError, normalizeHub, parseRepoInput, planRepo, rewriteIndex } from './hub.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const forcedWasm = ['simd', 'scalar'].includes(params.get('wasm')) ? params.get('wasm') : null;
const BUILD = chooseBuild(forcedWasm); // the build every worker of every run loads
const CORES = navigator.hardwareConcurrency || 1;
const TEMP_PREFIX = 'stzip-tmp-';
const hasPicker = typeof window.showSaveFilePicker === 'function';

class Cancelled extends Error { constructor() { super('cancelled'); this.name = 'Cancelled'; } }

let file = null;        // the chosen input File
let running = null;     // { cancel } while a run is going on
let output = null;      // { name, blob, url, opfsName } of the last result
let lastRun = null;     // the last 'done' message, for the JSON report
const hubKeep = new Set(); // OPFS temp files holding Hub outputs (kept until the next Hub run)

// ---- small helpers ----

/** A file name safe to offer for download: no path separators, controls or reserved characters. */
function safeName(name, fallback = 'output') {
  const s = String(name).normalize('NFC')
    .replace(/[\u0000-\u001f\u007f-\u009f<>:"/\\|?*]/g, '_')
    .replace(/^[\s.]+|[\s.]+$/g, '')
    .slice(0, 180);
  return s || fallback;
}

function outputName(op, inName) {
  const base = safeName(inName, 'model.safetensors');
  if (op === 'compress') return `${base}.stz`;
  return /\.stz$/i.test(base) && base.length > 4 ? base.slice(0, -4) : `${base}.safetensors`;
}

const fmtTime = (s) => (!Number.isFinite(s) ? '—' : s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function download(href, name) {
  const a = document.createElement('a');
  a.href = href;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
}

// Report objects from wasm may carry Maps (serde) or BigInts: make them JSON-able.
function plain(v) {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, plain(x)]));
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && !ArrayBuffer.isView(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

// ---- Origin Private File System temp files ----

async function opfsRoot() {
  try { return await navigator.storage.getDirectory(); } catch { return null; }
}

/** Deletes our temp files (left by an earlier run or page), except `keep`. A locked file (another tab's run) is skipped. */
async function cleanTemp(keep = null) {
  const root = await opfsRoot();
  if (!root?.keys) return;
  for await (const name of root.keys()) {
    if (name.startsWith(TEMP_PREFIX) && name !== keep && !hubKeep.has(name)) await root.removeEntry(name).catch(() => {});
  }
}

async function removeTemp(name) {
  const root = await opfsRoot();
  // After terminate() the worker's sync access handle is released asynchronously: retry briefly.
  for (let i = 0; i < 20 && root; i++) {
    try { await root.removeEntry(name); return; } catch (e) { if (e.name === 'NotFoundError') return; await sleep(50); }
  }
}

// ---- running a job in a coordinator worker ----

/**
 * Starts a compress/decompress run. Returns { done, cancel }: `done` resolves
 * with the coordinator's 'done' message plus `blob` (the output as a Blob or
 * OPFS-backed File), or rejects (Cancelled or Error).
 */
function startJob(job, onEvent) {
  const worker = new Worker(new URL('./coordinator.js', import.meta.url), { type: 'module', name: 'stzip coordinator' });
  let reject;
  const done = new Promise((res, rej) => {
    reject = rej;
    worker.onmessage = ({ data: m }) => {
      if (m.type === 'done') { worker.terminate(); res(m); }
      else if (m.type === 'error') { worker.terminate(); rej(new Error(m.message)); }
      else if (m.type === 'cancelled') { worker.terminate(); rej(new Cancelled()); }
      else onEvent(m);
    };
    worker.onerror = (e) => { e.preventDefault(); worker.terminate(); rej(new Error(`the coordinator worker failed: ${e.message || 'could not load'}`)); };
  });
  worker.postMessage({ type: job.op, ...job });

  const cancel = async () => {
    // Ask the coordinator to stop its pool and abort its sink; if it does not
    // answer quickly (busy in a synchronous wasm call), terminate it: that also
    // ends its nested codec workers.
    worker.postMessage({ type: 'cancel' });
    await Promise.race([done.catch(() => {}), sleep(250)]);
    worker.terminate();
    reject(new Cancelled());
  };
  return { done, cancel };
}

/** Runs a job to completion and resolves the output as a Blob (or an OPFS File). */
async function execute(job, onEvent) {
  running = startJob(job, onEvent);
  const cleanup = async () => {
    if (job.sink.kind === 'auto' || job.sink.kind === 'opfs') await removeTemp(job.sink.name);
    if (job.sink.kind === 'handle') {
      // Aborted writes never reach the file (they go to a swap file), but the
      // picker may have created it empty: remove that, never a file with content.
      const f = await job.sink.handle.getFile().catch(() => null);
      if (f && f.size === 0) await job.sink.handle.remove?.().catch(() => {});
    }
  };
  try {
    const m = await running.done;
    const r = m.result;
    if (r.kind === 'memory') m.blob = r.blob;
    else if (r.kind === 'opfs') m.blob = await (await (await opfsRoot()).getFileHandle(r.name)).getFile();
    else m.blob = await job.sink.handle.getFile();
    return m;
  } catch (e) {
    await cleanup();
    throw e;
  } finally {
    running = null;
  }
}

// ---- UI state ----

const controls = ['file', 'demo', 'mode', 'bpw', 'snr', 'workers', 'picker', 'compress', 'decompress',
  'hub-repo', 'hub-rev', 'hub-token', 'hub-keep', 'hub-base', 'hub-list', 'hub-compress'];

let busy = false;
function setBusy(b) {
  busy = b;
  for (const id of controls) $(id).disabled = busy;
  $('cancel').disabled = !busy;
  $('drop').classList.toggle('busy', busy);
  if (!busy) { syncMode(); $('compress').disabled = $('decompress').disabled = !file; $('hub-compress').disabled = !hub.plan; }
}

let runCount = 0;
/** Marks the start of a run at once (tests wait for data-run to change, then for a final state). */
function beginRun() {
  $('status').dataset.run = String(++runCount);
  setStatus('running', 'Starting…');
}

function setStatus(state, text) {
  const s = $('status');
  s.dataset.state = state;
  s.textContent = text;
}

function showError(text) {
  const e = $('error');
  e.textContent = text;
  e.hidden = !text;
}

// The value fields stay enabled (typing into one selects its mode); the inactive one is dimmed.
function syncMode() {
  const mode = $('mode').value;
  $('bpw').classList.toggle('inactive', mode !== 'bpw');
  $('snr').classList.toggle('inactive', mode !== 'snr');
}

function setFile(f) {
  file = f;
  $('chosen').textContent = f ? `${f.name} (${fmtBytes(f.size)})` : 'No file chosen.';
  $('compress').disabled = $('decompress').disabled = !f || busy;
  // Suggest the action that fits the file.
  const stz = f && /\.stz$/i.test(f.name);
  $('compress').classList.toggle('primary', !!f && !stz);
  $('decompress').classList.toggle('primary', !!stz);
}

function options() {
  const mode = $('mode').value;
  if (mode === 'lossless') return { mode };
  const input = mode === 'bpw' ? $('bpw') : $('snr');
  const value = Number(input.value);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${mode === 'bpw' ? 'Bits per weight' : 'SNR target'} must be a positive number.`);
  return { mode, value };
}

function workerCount() {
  const n = Math.round(Number($('workers').value));
  return Math.min(CORES, Math.max(1, Number.isFinite(n) ? n : CORES));
}

function resetOutput() {
  if (output?.url) URL.revokeObjectURL(output.url);
  output = null;
  $('save').disabled = true;
}

// ---- progress ----

let latest = null;
let frame = 0;

function onEvent(m) {
  if (m.type === 'progress') {
    latest = m;
    frame ||= requestAnimationFrame(drawProgress); // at most one redraw per frame
  } else if (m.type === 'warning') {
    showError(m.message);
  }
}

// Speed and time left are measured within the current phase (lossy runs
// read the file twice, with the quantizer step chosen in between).
let phase = null;
let statusPrefix = ''; // e.g. "model-00001-of-00003.safetensors (1 of 3): " during a Hub run

function drawProgress() {
  frame = 0;
  const p = latest;
  if (!p) return;
  const now = performance.now();
  if (p.phase !== phase?.name) phase = { name: p.phase, t: now, read: p.read };
  const label = { stats: 'Pass 1 of 2: statistics', step: 'Choosing the quantizer step', code: 'Coding', decode: 'Decoding' }[p.phase] ?? '';
  if (running && !running.cancelling) setStatus('running', `${statusPrefix}${label}…`);
  $('read-bar').value = p.readTotal ? p.read / p.readTotal : 0;
  $('read-text').textContent = `${fmtBytes(p.read)} of ${fmtBytes(p.readTotal)}`;
  $('write-bar').value = p.total ? Math.min(1, p.consumed / p.total) : 0;
  $('write-text').textContent = fmtBytes(p.written);
  // Original / compressed, as in the report (decompression reads compressed bytes and writes originals).
  const ratio = p.phase === 'decode' ? p.written / p.consumed : p.consumed / p.written;
  $('ratio-text').textContent = p.written && p.consumed ? `${ratio.toFixed(3)}×` : '—';
  const secs = (now - phase.t) / 1000;
  const rate = (p.read - phase.read) / secs; // bytes/s in this phase
  $('speed-text').textContent = secs > 0.2 && rate > 0 ? `${(rate / 1e6).toFixed(1)} MB/s` : '—';
  // A lossy run's step choice takes a while that no byte count measures.
  const left = p.phase === 'step' ? NaN : (p.readTotal - p.read) / rate;
  $('eta-text').textContent = secs > 0.5 && rate > 0 ? fmtTime(left) : '—';
  $('mem-text').textContent = p.wasmBytes ? fmtBytes(p.wasmBytes) : '—';
}

function resetProgress() {
  latest = null;
  phase = null;
  $('read-bar').value = $('write-bar').value = 0;
  for (const id of ['read-text', 'write-text']) $(id).textContent = '';
  for (const id of ['ratio-text', 'speed-text', 'eta-text', 'mem-text']) $(id).textContent = '—';
}

// ---- report ----

function showReport(job, m) {
  const r = plain(m.report);
  lastRun = { file: job.file.name, op: job.op, build: m.build, buildInfo: plain(m.info), workers: m.workers,
    seconds: m.ms / 1000, options: m.options, report: r };
  window.stzipDebug.lastReport = r;
  renderTotals($('totals'), r);
  renderTable($('tensors').tBodies[0], r.tensors ?? []);
  renderChart($('chart'), r.tensors ?? []);
  $('report').hidden = false;
}

$('report-json').addEventListener('click', () => {
  if (!lastRun) return;
  const url = URL.createObjectURL(new Blob([JSON.stringify(lastRun, null, 2)], { type: 'application/json' }));
  download(url, safeName(`${lastRun.file ?? 'stzip'}.report.json`));
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
});

// ---- a run from the UI ----

async function run(op, { demo = false } = {}) {
  if (!file || busy) return;
  beginRun();
  setBusy(true); // no second click while the save dialog is open
  showError('');
  const stop = (state, text, error = '') => { setBusy(false); setStatus(state, text); showError(error); };
  let opts;
  try { opts = op === 'compress' ? options() : undefined; } catch (e) { return stop('error', 'Check the options.', e.message); }
  const name = outputName(op, file.name);
  let sink = { kind: 'auto', name: `${TEMP_PREFIX}${Date.now()}-${Math.random().toString(36).slice(2)}` };
  if (!demo && hasPicker && $('picker').checked) {
    // Must come first in the click handler: the picker needs the user gesture.
    try {
      const ext = op === 'compress' ? '.stz' : '.safetensors';
      const handle = await window.showSaveFilePicker({ suggestedName: name,
        types: [{ description: op === 'compress' ? 'stzip file' : 'safetensors file', accept: { 'application/octet-stream': [ext] } }] });
      sink = { kind: 'handle', handle };
    } catch (e) {
      if (e.name === 'AbortError') return stop('idle', 'Nothing was done: no file was chosen to save to.');
      showError(`Could not open the save dialog (${e.message}); the output will be offered as a download.`);
    }
  }
  const job = { op, file, options: opts, workers: workerCount(), wasm: BUILD, sink };
  await runUi(job, name).catch(() => { /* runUi has shown it */ });
}

/** Runs a job with progress, report and Save wired to the page. Shared by the UI and stzipDebug.run. */
async function runUi(job, name) {
  const previous = output?.opfsName ?? null;
  resetOutput();
  await cleanTemp(previous); // a download of the previous result may still be reading its file
  setBusy(true);
  resetProgress();
  $('report').hidden = true;
  setStatus('running', 'Starting…');
  try {
    const m = await execute(job, onEvent);
    m.options = job.options;
    drawProgress();
    // Whole-run figures once it is over.
    $('speed-text').textContent = `${(job.file.size / 1e3 / m.ms).toFixed(1)} MB/s overall`;
    $('eta-text').textContent = 'done';
    output = { name, blob: m.blob, opfsName: m.result.kind === 'opfs' ? m.result.name : null };
    $('save').disabled = false;
    window.stzipDebug.lastResult = m.blob;
    showReport(job, m);
    const r = lastRun.report;
    const [from, to] = job.op === 'compress' ? [r.rawBytes, r.stzBytes] : [r.stzBytes, r.rawBytes];
    setStatus('done', `${job.op === 'compress' ? 'Compressed' : 'Decompressed'} ${job.file.name}: ${fmtBytes(from)} → ${fmtBytes(to)} ` +
      `in ${fmtTime(m.ms / 1000)} (${m.build} build, ${m.workers} worker${m.workers > 1 ? 's' : ''}). ` +
      (job.sink.kind === 'handle' ? `Saved as ${job.sink.handle.name}.` : `Save downloads ${name}.`));
    return m;
  } catch (e) {
    if (e instanceof Cancelled) {
      setStatus('cancelled', 'Cancelled. Nothing was kept.');
    } else {
      setStatus('error', `${job.op === 'compress' ? 'Compression' : 'Decompression'} failed.`);
      showError(e.message);
    }
    throw e;
  } finally {
    setBusy(false);
    await cleanTemp(output?.opfsName); // now the previous result goes
  }
}

$('save').addEventListener('click', () => {
  if (!output) return;
  // An object URL of an OPFS File streams from disk; the tab never holds the bytes.
  output.url ??= URL.createObjectURL(output.blob);
  download(output.url, output.name);
});

$('cancel').addEventListener('click', () => {
  if (!running) return;
  running.cancelling = true;
  setStatus('running', 'Cancelling…');
  running.cancel();
});

$('compress').addEventListener('click', () => run('compress'));
$('decompress').addEventListener('click', () => run('decompress'));
$('mode').addEventListener('change', syncMode);
for (const id of ['bpw', 'snr']) $(id).addEventListener('input', () => { $('mode').value = id; syncMode(); });
$('file').addEventListener('change', () => setFile($('file').files[0] ?? null));

$('demo').addEventListener('click', async () => {
  if (busy) return;
  try {
    const res = await fetch('demo.safetensors');
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    setFile(new File([await res.blob()], 'demo.safetensors', { type: 'application/octet-stream' }));
  } catch (e) {
    showError(`Could not load the demo file: ${e.message}`);
    return;
  }
  run('compress', { demo: true });
});

// Drag and drop anywhere on the page.
document.addEventListener('dragover', (e) => {
  e.preventDefault();
  if (!busy) $('drop').classList.add('over');
});
document.addEventListener('dragleave', (e) => { if (!e.relatedTarget) $('drop').classList.remove('over'); });
document.addEventListener('drop', (e) => {
  e.preventDefault();
  $('drop').classList.remove('over');
  const f = e.dataTransfer?.files?.[0];
  if (f && !busy) setFile(f);
});

// ---- straight from the Hugging Face Hub ----

const TOKEN_KEY = 'stzip-hf-token';
let wasmReady = null; // the page's own wasm module (header summaries for the listing)
const hub = { client: null, plan: null, rows: new Map(), outputs: [], listing: null };

function hubBase() {
  const v = $('hub-base').value.trim();
  return normalizeHub(v || DEFAULT_HUB);
}

function hubStatus(state, text) {
  const s = $('hub-status');
  s.dataset.state = state;
  s.textContent = text;
}

function paramText(params) {
  const entries = Object.entries(params ?? {});
  if (!entries.length) return '—';
  const total = entries.reduce((a, [, n]) => a + n, 0);
  const parts = entries.map(([d, n]) => `${d}: ${n.toLocaleString('en-US')}`);
  return entries.length > 1 ? `${parts.join(', ')} (${total.toLocaleString('en-US')} in all)` : parts[0];
}

function resetHubOutputs() {
  for (const o of hub.outputs) if (o.url) URL.revokeObjectURL(o.url);
  hub.outputs = [];
  $('hub-save-all').disabled = true;
}

function hubRow(cells, path) {
  const tr = document.createElement('tr');
  const th = document.createElement('th');
  th.scope = 'row';
  th.textContent = cells[0];
  tr.append(th);
  for (const c of cells.slice(1)) {
    const td = document.createElement('td');
    td.textContent = c;
    tr.append(td);
  }
  tr.dataset.path = path;
  $('hub-files').tBodies[0].append(tr);
  return tr;
}

function saveButton(out) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = `Save ${out.name}`;
  b.addEventListener('click', () => {
    out.url ??= URL.createObjectURL(out.blob);
    download(out.url, out.name);
  });
  return b;
}

function addOutput(tr, out) {
  hub.outputs.push(out);
  const cell = tr.cells[5];
  cell.textContent = '';
  cell.append(saveButton(out));
  $('hub-save-all').disabled = false;
}

/** Lists the repo's safetensors files, with size, tensors and parameters from each header (Range requests only). */
async function hubList({ peek = true } = {}) {
  if (busy) return;
  hub.listing?.abort();
  const abort = new AbortController();
  hub.listing = abort;
  showError('');
  hub.plan = null;
  $('hub-compress').disabled = true;
  resetHubOutputs();
  $('hub-files').tBodies[0].textContent = '';
  hub.rows.clear();
  $('hub-wrap').hidden = true;
  try {
    const base = hubBase();
    const input = parseRepoInput($('hub-repo').value, base);
    const revision = $('hub-rev').value.trim() || input.revision || 'main';
    const client = new HubClient({ hub: base, repo: input.repo, revision, token: $('hub-token').value.trim() });
    hubStatus('listing', `Listing ${client.repo} at ${client.revision}…`);
    const files = await client.listFiles(abort.signal);
    const plan = await planRepo(client, files, input.file, abort.signal);
    const { mod } = await wasmReady;
    $('hub-wrap').hidden = false;
    for (const job of plan.jobs) {
      const tr = hubRow([job.path, Number.isFinite(job.size) ? fmtBytes(job.size) : '…', '…', '…', '', ''], job.path);
      hub.rows.set(job.path, tr);
    }
    for (const idx of plan.indexes) {
      hub.rows.set(idx.path, hubRow([idx.path, '', '', '', `index of ${idx.shards.length} shard${idx.shards.length > 1 ? 's' : ''}`, ''], idx.path));
    }
    // Headers, a few at a time.
    let totalParams = 0;
    let next = 0;
    const worker = async () => {
      while (next < plan.jobs.length) {
        const job = plan.jobs[next++];
        const h = await client.peekHeader(job.path, mod, abort.signal);
        if (!Number.isFinite(job.size)) job.size = Number.isFinite(h.size) ? h.size : h.fileLength;
        if (job.size !== h.fileLength) throw new HubError(`${job.path}: the header says ${h.fileLength} bytes, the Hub lists ${job.size}.`);
        const tr = hub.rows.get(job.path);
        tr.cells[1].textContent = fmtBytes(job.size);
        tr.cells[1].title = `${job.size.toLocaleString('en-US')} bytes`;
        tr.cells[2].textContent = String(h.tensors);
        tr.cells[3].textContent = paramText(h.params);
        tr.cells[3].className = 'params';
        Object.assign(tr.dataset, { bytes: String(job.size), tensors: String(h.tensors), params: JSON.stringify(h.params) });
        totalParams += Object.values(h.params).reduce((a, b) => a + b, 0);
      }
    };
    if (peek) await Promise.all(Array.from({ length: Math.min(3, plan.jobs.length) }, worker));
    else if (plan.jobs.some((j) => !Number.isFinite(j.size))) throw new HubError('The listing has no file sizes: list with headers.');
    hub.client = client;
    hub.plan = plan;
    $('hub-compress').disabled = busy;
    const bytes = plan.jobs.reduce((a, j) => a + j.size, 0);
    hubStatus('listed', `${client.repo} at ${client.revision}: ${plan.jobs.length} safetensors file${plan.jobs.length > 1 ? 's' : ''}, ` +
      `${fmtBytes(bytes)}, ${totalParams.toLocaleString('en-US')} parameters${plan.indexes.length ? `, ${plan.indexes.length} shard index` : ''}.`);
  } catch (e) {
    if (e.name === 'AbortError') return;
    hubStatus('error', e instanceof HubError ? 'Could not list the repo.' : 'Listing failed.');
    showError(e.message);
  } finally {
    if (hub.listing === abort) hub.listing = null;
  }
}

/** Compresses every listed file in turn, each streamed from the Hub through the codec. */
async function hubCompressAll() {
  if (busy || !hub.plan) return;
  const { client, plan } = hub;
  beginRun();
  setBusy(true);
  showError('');
  let opts;
  try { opts = options(); } catch (e) { setBusy(false); setStatus('error', 'Check the options.'); showError(e.message); return; }
  resetHubOutputs();
  for (const n of hubKeep) await removeTemp(n);
  hubKeep.clear();
  resetOutput();
  await cleanTemp();
  $('report').hidden = true;
  const t0 = performance.now();
  let raw = 0;
  let stz = 0;
  const fetched = { requests: 0, resumes: 0, resolves: 0, bytes: 0 };
  window.stzipDebug.hubFetch = null;
  window.stzipDebug.hubMs = null;
  try {
    for (const [k, job] of plan.jobs.entries()) {
      const tr = hub.rows.get(job.path);
      tr.cells[4].textContent = 'compressing…';
      statusPrefix = `${job.path} (${k + 1} of ${plan.jobs.length}): `;
      resetProgress();
      setStatus('running', `${statusPrefix}starting…`);
      const sink = { kind: 'auto', name: `${TEMP_PREFIX}${Date.now()}-${Math.random().toString(36).slice(2)}` };
      const spec = { name: job.path, size: job.size, resolveUrl: client.resolveUrl(job.path), token: client.token };
      let m;
      try {
        m = await execute({ op: 'compress', url: spec, options: opts, workers: workerCount(), wasm: BUILD, sink }, onEvent);
      } catch (e) {
        tr.cells[4].textContent = e instanceof Cancelled ? 'cancelled' : 'failed';
        throw e;
      }
      if (m.result.kind === 'opfs') hubKeep.add(m.result.name);
      for (const key of Object.keys(fetched)) fetched[key] += m.fetch?.[key] ?? 0;
      const r = plain(m.report);
      raw += r.rawBytes;
      stz += r.stzBytes;
      tr.cells[4].textContent = `${fmtBytes(r.rawBytes)} → ${fmtBytes(r.stzBytes)} (${(r.rawBytes / r.stzBytes).toFixed(3)}×)`;
      addOutput(tr, { name: job.output, blob: m.blob });
      m.options = opts;
      showReport({ op: 'compress', file: { name: job.path } }, m);
    }
    for (const idx of plan.indexes) {
      const blob = new Blob([rewriteIndex(idx)], { type: 'application/json' });
      addOutput(hub.rows.get(idx.path), { name: idx.output, blob });
      hub.rows.get(idx.path).cells[4].textContent = 'rewritten to name the .stz files';
    }
    window.stzipDebug.hubFetch = fetched;
    const ms = performance.now() - t0;
    window.stzipDebug.hubMs = ms;
    $('speed-text').textContent = `${(raw / 1e3 / ms).toFixed(1)} MB/s overall`;
    $('eta-text').textContent = 'done';
    const n = plan.jobs.length;
    setStatus('done', `Compressed ${client.repo} (${n} file${n > 1 ? 's' : ''}${plan.indexes.length ? ' and the shard index' : ''}): ` +
      `${fmtBytes(raw)} → ${fmtBytes(stz)} in ${fmtTime(ms / 1000)}` +
      `${fetched.resumes ? `, after ${fetched.resumes} resumed connection${fetched.resumes > 1 ? 's' : ''}` : ''}. Save each file below, or Save all.`);
  } catch (e) {
    if (e instanceof Cancelled) setStatus('cancelled', 'Cancelled. Files finished before the cancel are kept below.');
    else { setStatus('error', 'Compression from the Hub failed.'); showError(e.message); }
  } finally {
    statusPrefix = '';
    setBusy(false);
  }
}

$('hub-form').addEventListener('submit', (e) => { e.preventDefault(); hubList(); });
$('hub-compress').addEventListener('click', hubCompressAll);
$('hub-save-all').addEventListener('click', async () => {
  for (const o of hub.outputs) {
    o.url ??= URL.createObjectURL(o.blob);
    download(o.url, o.name);
    await sleep(300); // browsers throttle bursts of downloads
  }
});
$('hub-token').addEventListener('input', () => {
  if ($('hub-keep').checked) sessionStorage.setItem(TOKEN_KEY, $('hub-token').value);
});
$('hub-keep').addEventListener('change', () => {
  if ($('hub-keep').checked) sessionStorage.setItem(TOKEN_KEY, $('hub-token').value);
  else sessionStorage.removeItem(TOKEN_KEY);
});
$('hub-base').addEventListener('change', () => {
  try { $('hub-base').value = hubBase(); showError(''); } catch (e) { showError(e.message); }
});

{
  // ?hub= (a Hub mirror or a test's mock) and ?repo=; the token only from this tab's sessionStorage, if kept there.
  try { $('hub-base').value = normalizeHub(params.get('hub') || DEFAULT_HUB); } catch (e) { $('hub-base').value = DEFAULT_HUB; showError(e.message); }
  if (params.get('repo')) $('hub-repo').value = params.get('repo');
  const kept = sessionStorage.getItem(TOKEN_KEY);
  if (kept) { $('hub-token').value = kept; $('hub-keep').checked = true; }
}

// ---- start-up ----

$('workers').max = String(CORES);
$('workers').value = String(CORES);
if (hasPicker) {
  $('picker-field').hidden = false;
  // Streaming into a file the user picks is best for big files. Automation
  // cannot answer the picker (Playwright intercepts it: it rejects at once),
  // so under WebDriver the default is the download path.
  $('picker').checked = !navigator.webdriver;
}
syncMode();
setFile(null);

// Hooks for the end-to-end tests and the benchmark.
window.stzipDebug = {
  build: BUILD,
  info: null,
  lastReport: null,
  lastResult: null,
  /** Runs compress/decompress on a File; resolves timing, report, output Blob and wasm memory. */
  async run({ file: f, op = 'compress', options: opts = { mode: 'lossless' }, workers = CORES, wasm = BUILD, sink = 'auto' }) {
    if (busy) throw new Error('a run is already going on');
    beginRun();
    setFile(f);
    const s = { kind: sink, name: `${TEMP_PREFIX}${Date.now()}-${Math.random().toString(36).slice(2)}` };
    const m = await runUi({ op, file: f, options: op === 'compress' ? opts : undefined, workers, wasm, sink: s }, outputName(op, f.name));
    return { ms: m.ms, report: plain(m.report), blob: m.blob, build: m.build, info: plain(m.info), workers: m.workers,
      peakWasmBytes: m.peakWasmBytes, outBytes: m.outBytes, split: m.split };
  },
  /** SHA-256 of each `sliceBytes` slice of a Blob (to compare big outputs without moving them). */
  async digests(blob, sliceBytes = 16 << 20) {
    const out = [];
    for (let a = 0; a < blob.size; a += sliceBytes) {
      const h = await crypto.subtle.digest('SHA-256', await blob.slice(a, a + sliceBytes).arrayBuffer());
      out.push([...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, '0')).join(''));
    }
    return out;
  },
  /**
   * Lists a repo without reading any header (the API only: no CDN request),
   * then compresses all, as the buttons do. For tests of the download path
   * (a mock's Nth-request faults are not spent by the listing's peeks).
   */
  async hubCompress({ repo, revision = '', token = '' }) {
    if (busy) throw new Error('a run is already going on');
    $('hub-repo').value = repo;
    $('hub-rev').value = revision;
    $('hub-token').value = token;
    await hubList({ peek: false });
    if (!hub.plan) throw new Error($('error').textContent || 'listing failed');
    await hubCompressAll();
    return { state: $('status').dataset.state, error: $('error').textContent, fetch: window.stzipDebug.hubFetch ?? null,
      ms: window.stzipDebug.hubMs ?? null };
  },
  async opfsEntries() {
    const root = await opfsRoot();
    const names = [];
    if (root?.keys) for await (const n of root.keys()) names.push(n);
    return names;
  },
};

cleanTemp(); // leftovers of a closed tab

wasmReady = loadWasm(forcedWasm);
wasmReady.catch(() => {});
wasmReady.then(({ build, info }) => {
  window.stzipDebug.info = info;
  const simd = info.simd ? 'SIMD' : 'scalar (no SIMD)';
  $('build').textContent = `WebAssembly: ${simd} build, stzip ${info.version}, format ${info.formatVersion}` +
    (forcedWasm ? ` (forced by ?wasm=${forcedWasm})` : build === 'scalar' ? ' (this browser has no WebAssembly SIMD)' : '') +
    ` · up to ${CORES} worker${CORES > 1 ? 's' : ''}.`;
  $('build').dataset.build = build;
  $('build').dataset.simd = String(info.simd);
}, (e) => {
  $('build').textContent = `The WebAssembly module could not be loaded: ${e.message}`;
  $('build').dataset.build = 'error';
});

// Offline support; the service worker is network-first, so it never serves stale files while online.
if ('serviceWorker' in navigator && !params.has('nosw')) navigator.serviceWorker.register('sw.js').catch(() => {});
