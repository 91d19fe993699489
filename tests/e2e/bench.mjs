// Browser benchmark: lossless compress / decompress speed of the page (wasm
// in Web Workers, headless Chromium) beside the native CLI on one thread, the
// SIMD/scalar and 1/2-worker ratios, memory while compressing, and a check
// that the browser's .stz bytes equal the CLI's.
//
//   node tests/e2e/bench.mjs               # ~256 MiB generated F32 file
//   BENCH_MB=512 node tests/e2e/bench.mjs  # another size
//   BENCH_BIG=1 node tests/e2e/bench.mjs   # also compress a 2 GiB file, reporting peak memory
//   BENCH_REPS=2 (best of N runs, default 2)
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { OUT, cli, ensureCli, ensureWasm, launchPersistent, startServer, writeSynthetic } from './lib.mjs';

const MB = Number(process.env.BENCH_MB ?? 256);
const BIG_MB = Number(process.env.BENCH_BIG_MB ?? 2048);
const REPS = Math.max(1, Number(process.env.BENCH_REPS ?? 2));
const SLICE = 16 << 20;
const MiB = 1 << 20;

/** SHA-256 per 16 MiB slice, as the page's stzipDebug.digests computes it. */
async function digests(path) {
  const out = [];
  let h = createHash('sha256'), n = 0;
  for await (const buf of createReadStream(path, { highWaterMark: MiB })) {
    for (let a = 0; a < buf.length;) {
      const take = Math.min(buf.length - a, SLICE - n);
      h.update(buf.subarray(a, a + take));
      a += take; n += take;
      if (n === SLICE) { out.push(h.digest('hex')); h = createHash('sha256'); n = 0; }
    }
  }
  if (n) out.push(h.digest('hex'));
  return out;
}

const status = (pid) => readFileSync(`/proc/${pid}/status`, 'utf8');

/**
 * The processes of the browser using `profile`, as { pid, type } (type:
 * 'browser', 'renderer', 'gpu-process', …). Only the browser process
 * carries --user-data-dir; its children (zygotes, renderers) are found by
 * looking up to three parents.
 */
function browserProcesses(profile) {
  const out = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('chromium')) continue;
      let ok = cmd.includes(profile);
      for (let p = pid, up = 0; up < 3 && !ok; up++) {
        p = status(p).match(/PPid:\s+(\d+)/)[1];
        ok = readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(profile);
      }
      if (ok) out.push({ pid, type: cmd.match(/--type=([a-z-]+)/)?.[1] ?? 'browser' });
    } catch { /* the process went away */ }
  }
  return out;
}

/**
 * Private memory (RssAnon + RssShmem) of the busiest renderer process of the
 * browser using `profile`: the page and its workers live there. (Summing all
 * renderers, or counting file-backed pages, would count Chromium's code and
 * idle spare renderers.)
 */
function rendererRss(profile) {
  let max = 0;
  const kb = (st, key) => Number(st.match(new RegExp(`${key}:\\s+(\\d+)`))?.[1] ?? 0) * 1024;
  for (const { pid } of browserProcesses(profile).filter((p) => p.type === 'renderer')) {
    try {
      const st = status(pid);
      max = Math.max(max, kb(st, 'RssAnon') + kb(st, 'RssShmem'));
    } catch { /* the process went away */ }
  }
  return max;
}

const TICK_MS = 10; // USER_HZ = 100 on Linux
/** utime + stime of a /proc stat line, in ms, and its thread name. */
function cpuOf(path) {
  const st = readFileSync(path, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return { name: st.slice(st.indexOf('(') + 1, st.lastIndexOf(')')), ms: (Number(f[11]) + Number(f[12])) * TICK_MS };
}

/**
 * CPU time of the browser's processes (a process's figure includes its
 * exited threads) and of each renderer thread, by pid / tid.
 */
function cpuSnapshot(profile) {
  const procs = new Map(), threads = new Map();
  for (const { pid, type } of browserProcesses(profile)) {
    try {
      procs.set(pid, { type, ms: cpuOf(`/proc/${pid}/stat`).ms });
      if (type !== 'renderer') continue;
      for (const tid of readdirSync(`/proc/${pid}/task`)) threads.set(Number(tid), cpuOf(`/proc/${pid}/task/${tid}/stat`));
    } catch { /* the process or thread went away */ }
  }
  return { procs, threads };
}

/**
 * Samples CPU time while a run goes, for where the machine's cores went: the
 * coordinator (the first Web Worker thread started in the run), the codec
 * workers (the later ones), the rest of the renderer (page, compositor, V8
 * compilers) and the browser process (file reads, IPC). Worker threads end
 * with the run, so their last sample counts (up to one interval is lost).
 */
function cpuSampler(profile, intervalMs = 100) {
  const start = cpuSnapshot(profile);
  const seen = new Map(); // tid → latest { name, ms }, threads that started in the run
  const sample = () => {
    const now = cpuSnapshot(profile);
    for (const [tid, t] of now.threads) if (!start.threads.has(tid)) seen.set(tid, t);
    return now;
  };
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      const end = sample();
      const delta = (type) => [...end.procs].filter(([, p]) => p.type === type)
        .reduce((a, [pid, p]) => a + p.ms - (start.procs.get(pid)?.ms ?? 0), 0);
      const workers = [...seen].filter(([, t]) => t.name.startsWith('DedicatedWorker')).sort((a, b) => a[0] - b[0]);
      const coordinator = workers[0]?.[1].ms ?? 0;
      const codec = workers.slice(1).reduce((a, [, t]) => a + t.ms, 0);
      const renderer = delta('renderer'), browser = delta('browser');
      const total = [...new Set([...end.procs].map(([, p]) => p.type))].reduce((a, type) => a + delta(type), 0);
      return { coordinator, codec, rendererOther: Math.max(0, renderer - coordinator - codec), browser, other: total - renderer - browser, total };
    },
  };
}

async function openBench(server) {
  const profile = mkdtempSync(join(tmpdir(), 'stzip-bench-profile-'));
  // ForceEagerMeasureMemory: measureUserAgentSpecificMemory answers at once instead of at the next GC.
  const context = await launchPersistent(profile, ['--enable-blink-features=ForceEagerMeasureMemory']);
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => console.error('pageerror:', e.message));
  await page.goto(`${server.url}?nosw`);
  await page.waitForFunction(() => document.getElementById('build').dataset.build);
  return { context, page, profile, close: async () => { await context.close(); rmSync(profile, { recursive: true, force: true }); } };
}

/**
 * One run in the page. With `sample`, memory is sampled every 500 ms while it
 * goes (measureUserAgentSpecificMemory forces a GC each time: never in a timed run).
 */
async function pageRun(b, path, { op, workers, wasm, sample = false, cpu = false }) {
  await b.page.getByLabel('Choose a file').setInputFiles(path);
  await b.page.evaluate(({ op, workers, wasm }) => {
    const file = document.getElementById('file').files[0];
    window.__bench = window.stzipDebug.run({ file, op, workers, wasm, sink: 'opfs' })
      .then((r) => { window.__result = r; return { ms: r.ms, outBytes: r.outBytes, peakWasmBytes: r.peakWasmBytes, build: r.build, simd: r.info.simd, workers: r.workers, split: r.split }; });
  }, { op, workers, wasm });
  const mem = { ua: 0, heap: 0, rss: 0 };
  const cpuTimes = cpu ? cpuSampler(b.profile) : null;
  let result = null;
  const done = b.page.evaluate(() => window.__bench).then((r) => { result = r; });
  while (!result && !sample) await done;
  while (!result) {
    const m = await b.page.evaluate(async () => {
      let ua = 0;
      // Bounded wait: without ForceEagerMeasureMemory the answer only comes with a GC.
      const measure = crossOriginIsolated ? performance.measureUserAgentSpecificMemory().then((r) => r.bytes, () => 0) : 0;
      ua = await Promise.race([measure, new Promise((r) => setTimeout(() => r(0), 2000))]);
      return { ua, heap: performance.memory?.usedJSHeapSize ?? 0 };
    }).catch(() => ({ ua: 0, heap: 0 }));
    mem.ua = Math.max(mem.ua, m.ua);
    mem.heap = Math.max(mem.heap, m.heap);
    mem.rss = Math.max(mem.rss, rendererRss(b.profile));
    await Promise.race([done, new Promise((r) => setTimeout(r, 500))]);
  }
  await done;
  return { ...result, mem, cpu: cpuTimes?.stop() };
}

const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000);
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '—');
const mib = (b) => `${(b / MiB).toFixed(0)} MiB`;

async function main() {
  const loadBefore = loadavg()[0].toFixed(2); // other work on the machine skews every figure
  ensureCli();
  ensureWasm();
  const input = await writeSynthetic(join(OUT, `bench-${MB}MiB.safetensors`), MB * MiB, 11);
  const size = statSync(input).size;
  const cliStz = join(OUT, 'bench-cli.stz');
  const cliOut = join(OUT, 'bench-cli.safetensors');
  console.error(`# input ${input}: ${size} bytes`);

  // Native CLI, one thread, file to file (best of REPS).
  let nC = Infinity, nD = Infinity;
  for (let i = 0; i < REPS; i++) {
    nC = Math.min(nC, cli(['compress', '-j', '1', '-q', '--force', input, '-o', cliStz]));
    nD = Math.min(nD, cli(['decompress', '-j', '1', '-q', '--force', cliStz, '-o', cliOut]));
  }
  const cliDigests = await digests(cliStz);
  const inDigests = await digests(input);
  rmSync(cliOut, { force: true });

  const server = await startServer();
  const rows = [];
  let identical = true;
  let memRow = null;
  try {
    const b = await openBench(server);
    try {
      for (const [wasm, workers] of [['simd', 1], ['scalar', 1], ['simd', 2]]) {
        let c = null, d = null;
        for (let i = 0; i < REPS; i++) {
          const rc = await pageRun(b, input, { op: 'compress', workers, wasm });
          if (!c || rc.ms < c.ms) c = rc;
          const same = JSON.stringify(await b.page.evaluate(() => window.stzipDebug.digests(window.__result.blob))) === JSON.stringify(cliDigests);
          identical &&= same;
          const rd = await pageRun(b, cliStz, { op: 'decompress', workers, wasm });
          if (!d || rd.ms < d.ms) d = rd;
          const back = JSON.stringify(await b.page.evaluate(() => window.stzipDebug.digests(window.__result.blob))) === JSON.stringify(inDigests);
          identical &&= back;
          console.error(`# ${wasm} ×${workers}: compress ${fmt(mbps(size, rc.ms))} MB/s (same as CLI: ${same}), decompress ${fmt(mbps(size, rd.ms))} MB/s (round trip exact: ${back})`);
        }
        if (c.simd !== (wasm === 'simd')) throw new Error(`asked for ${wasm}, buildInfo().simd = ${c.simd}`);
        // Memory, in a separate (untimed) run.
        c.mem = (await pageRun(b, input, { op: 'compress', workers, wasm, sample: true })).mem;
        // CPU time by thread, in separate (untimed) runs too: sampling /proc costs a little CPU.
        const cpu = {
          c: await pageRun(b, input, { op: 'compress', workers, wasm, cpu: true }),
          d: await pageRun(b, cliStz, { op: 'decompress', workers, wasm, cpu: true }),
        };
        rows.push({ wasm, workers, c, d, cpu });
      }
    } finally { await b.close(); }

    if (process.env.BENCH_BIG) {
      const big = await writeSynthetic(join(OUT, `bench-${BIG_MB}MiB.safetensors`), BIG_MB * MiB, 12);
      const bb = await openBench(server);
      try {
        const r = await pageRun(bb, big, { op: 'compress', workers: 2, wasm: 'simd', sample: true });
        memRow = { size: statSync(big).size, ...r };
        console.error(`# ${BIG_MB} MiB: ${fmt(mbps(memRow.size, r.ms))} MB/s, memory ${JSON.stringify(r.mem)}, wasm ${r.peakWasmBytes}`);
      } finally { await bb.close(); }
    }
  } finally { await server.stop(); }

  // ---- the tables ----
  const [s1, sc1, s2] = rows;
  const natC = mbps(size, nC * 1000), natD = mbps(size, nD * 1000);
  const lines = [];
  lines.push(`Lossless, ${(size / 1e6).toFixed(0)} MB generated F32 safetensors, headless Chromium (best of ${REPS}), ${cpus().length} cores, load average before the run ${loadBefore}; ` +
    'MB = 10⁶ bytes of the original file; browser times are whole runs (worker start, wasm load, file reads, OPFS writes); native: the CLI file to file.');
  lines.push('');
  lines.push('| run | compress MB/s | decompress MB/s | compress vs native | decompress vs native | compressing, peak: measureUserAgentSpecificMemory / wasm memories / renderer private RSS |');
  lines.push('|---|---:|---:|---:|---:|---:|');
  lines.push(`| native CLI \`-j 1\` | ${fmt(natC)} | ${fmt(natD)} | 100 % | 100 % | |`);
  for (const r of rows) {
    const c = mbps(size, r.c.ms), d = mbps(size, r.d.ms);
    lines.push(`| browser ${r.wasm === 'simd' ? 'SIMD' : 'scalar'}, ${r.workers} worker${r.workers > 1 ? 's' : ''} | ${fmt(c)} | ${fmt(d)} | ${fmt((100 * c) / natC, 0)} % | ${fmt((100 * d) / natD, 0)} % | ${mib(r.c.mem.ua)} / ${mib(r.c.peakWasmBytes)} / ${mib(r.c.mem.rss)} |`);
  }
  const ratio = (a, b, k) => mbps(size, a[k].ms) / mbps(size, b[k].ms);
  const t = [];
  const check = (name, value, ok) => t.push(`| ${name} | ${value} | ${ok === null ? 'info' : ok ? 'PASS' : 'MISS'} |`);
  const pc = (100 * mbps(size, s1.c.ms)) / natC, pd = (100 * mbps(size, s1.d.ms)) / natD;
  check('SIMD 1 worker compress ≥ 50 % of native 1 thread', `${fmt(pc, 1)} %`, pc >= 50);
  check('SIMD 1 worker decompress ≥ 50 % of native 1 thread', `${fmt(pd, 1)} %`, pd >= 50);
  check('SIMD / scalar speedup (compress, decompress)', `${fmt(ratio(s1, sc1, 'c'), 2)}×, ${fmt(ratio(s1, sc1, 'd'), 2)}×`, null);
  check('2 workers ≥ 1.7× one, compress', `${fmt(ratio(s2, s1, 'c'), 2)}×`, ratio(s2, s1, 'c') >= 1.7);
  check('2 workers ≥ 1.7× one, decompress', `${fmt(ratio(s2, s1, 'd'), 2)}×`, ratio(s2, s1, 'd') >= 1.7);
  if (memRow) {
    // The largest of the three views of it: the browser's own measure, wasm + JS heap, and the renderer's private RSS.
    const m = memRow.mem;
    const pageMem = Math.max(m.ua, m.heap + memRow.peakWasmBytes, m.rss);
    check(`page memory < 512 MiB compressing ${(memRow.size / 2 ** 30).toFixed(1)} GiB`,
      `${mib(pageMem)} (measureUserAgentSpecificMemory ${mib(m.ua)}, wasm ${mib(memRow.peakWasmBytes)} + JS heap ${mib(m.heap)}, renderer private RSS ${mib(m.rss)}; ${fmt(mbps(memRow.size, memRow.ms))} MB/s)`,
      pageMem < 512 * MiB);
  } else {
    check('page memory < 512 MiB on a 2 GiB file', 'not run (BENCH_BIG=1)', null);
  }
  check('browser .stz identical to the CLI\'s; decompressed identical to the input', identical ? 'yes' : 'no', identical);
  lines.push('', '| target | measured | result |', '|---|---:|---|', ...t);
  // Where the coordinator's time went in the timed runs above: waiting for
  // input, for the workers, adding frames to the wasm session (copies and the
  // whole-file hash), writing the output.
  lines.push('', 'Coordinator time by step, ms (the timed runs above):', '',
    '| run | whole run | reading | waiting for workers | adding to the session | writing |', '|---|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    for (const [op, x] of [['compress', r.c], ['decompress', r.d]]) {
      const sp = x.split ?? {};
      lines.push(`| ${op}, ${r.wasm === 'simd' ? 'SIMD' : 'scalar'}, ${r.workers} worker${r.workers > 1 ? 's' : ''} | ${fmt(x.ms, 0)} | ${fmt(sp.read, 0)} | ${fmt(sp.workers, 0)} | ${fmt(sp.add, 0)} | ${fmt(sp.write, 0)} |`);
    }
  }
  // Where the cores went (CPU ms by thread, from /proc, in untimed runs): on
  // a machine with few cores the coordinator and the browser's own file I/O
  // take CPU from the codec workers, which bounds what more workers can gain.
  lines.push('', `CPU time by thread, ms (separate untimed runs; ${cpus().length} cores, so at most ${cpus().length}× the wall time):`, '',
    '| run | wall | coordinator | codec workers | rest of the renderer | browser process | other processes | total | cores busy |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    for (const [op, x] of [['compress', r.cpu.c], ['decompress', r.cpu.d]]) {
      const u = x.cpu;
      lines.push(`| ${op}, ${r.wasm === 'simd' ? 'SIMD' : 'scalar'}, ${r.workers} worker${r.workers > 1 ? 's' : ''} | ${fmt(x.ms, 0)} | ${fmt(u.coordinator, 0)} | ${fmt(u.codec, 0)} | ${fmt(u.rendererOther, 0)} | ${fmt(u.browser, 0)} | ${fmt(u.other, 0)} | ${fmt(u.total, 0)} | ${fmt(u.total / x.ms, 2)} |`);
    }
  }
  console.log(lines.join('\n'));
  process.exit(identical ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(1); });
