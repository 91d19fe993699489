// Shared helpers for the end-to-end tests and the benchmark: the static
// server, the browser, test files, the native CLI.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const OUT = join(ROOT, 'target', 'e2e');
export const CLI = join(ROOT, 'target', 'release', 'stzip');
mkdirSync(OUT, { recursive: true });

export function assert(cond, msg) { if (!cond) throw new Error(msg); }

/** Throws unless files `a` and `b` have the same bytes, naming the first difference. */
export function sameBytes(a, b, what) {
  const x = readFileSync(a), y = readFileSync(b);
  if (x.equals(y)) return;
  let i = 0;
  while (i < Math.min(x.length, y.length) && x[i] === y[i]) i++;
  throw new Error(`${what}: files differ (${x.length} vs ${y.length} bytes, first difference at byte ${i})`);
}

/** Starts scripts/serve.mjs on a free port (extra args, e.g. --connect ORIGINS); returns { url, stop }. */
export async function startServer(extraArgs = []) {
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'serve.mjs'), '0', ...extraArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((res, rej) => {
    let text = '';
    child.stdout.on('data', (d) => {
      text += d;
      const m = text.match(/http:\/\/127\.0\.0\.1:\d+\//);
      if (m) res(m[0]);
    });
    child.once('exit', (code) => rej(new Error(`serve.mjs exited (${code})`)));
  });
  return { url, stop: async () => { child.kill('SIGTERM'); await once(child, 'exit').catch(() => {}); } };
}

export const CHROMIUM_ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-dev-shm-usage',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export function launch(extraArgs = []) {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/** A browser context with its own on-disk profile (OPFS on disk, not in memory as in incognito contexts). */
export function launchPersistent(dir, extraArgs = []) {
  return chromium.launchPersistentContext(dir, { executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs], acceptDownloads: true });
}

// Fast deterministic PRNG (xorshift32) → roughly Gaussian values (sum of 4 uniforms).
function gaussFill(f32, seed, scale) {
  let s = seed >>> 0 || 1;
  const next = () => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return (s >>> 0) / 4294967296; };
  const k = scale * Math.sqrt(3); // variance of the sum of 4 U(-.5,.5) is 1/3
  for (let i = 0; i < f32.length; i++) f32[i] = (next() + next() + next() + next() - 2) * k;
}

/**
 * Writes a safetensors file. tensors: [{ name, dtype ('F32' | 'I32' …), shape, scale? }];
 * F32 data is Gaussian-ish with a per-row scale (like real weights), anything else bytes of a counter.
 */
export async function writeSafetensors(path, tensors, seed = 1) {
  const size = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, U8: 1, BOOL: 1 };
  const meta = {};
  let off = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1) * size[t.dtype];
    meta[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + n] };
    off += n;
  }
  let json = Buffer.from(JSON.stringify(meta));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const out = createWriteStream(path);
  const write = async (b) => { if (!out.write(b)) await once(out, 'drain'); };
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  await write(len);
  await write(json);
  for (const [ti, t] of tensors.entries()) {
    const n = t.shape.reduce((a, b) => a * b, 1) * size[t.dtype];
    const row = t.shape.at(-1) ?? 1;
    const block = Math.max(row, Math.floor((16 << 20) / 4 / row) * row) * 4; // whole rows, ~16 MiB
    for (let a = 0; a < n; a += block) {
      const buf = Buffer.alloc(Math.min(block, n - a));
      if (t.dtype === 'F32') {
        const f = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
        gaussFill(f, seed * 7919 + ti * 104729 + a / block + 1, t.scale ?? 0.02);
        // Per-row scale variation: rows of real weight matrices differ in scale.
        for (let r = 0; r < f.length / row; r++) {
          const m = 0.5 + ((r * 2654435761) % 1000) / 1000;
          for (let i = r * row; i < (r + 1) * row; i++) f[i] *= m;
        }
      } else {
        for (let i = 0; i < buf.length; i++) buf[i] = (a + i) * 31 + ti;
      }
      await write(buf);
    }
  }
  out.end();
  await once(out, 'finish');
  return path;
}

/** A synthetic model of about `bytes` bytes: F32 matrices with 1024-wide rows, plus a bias. */
export async function writeSynthetic(path, bytes, seed = 1) {
  if (existsSync(path) && statSync(path).size > bytes * 0.9 && statSync(path).size < bytes * 1.1) return path; // cached
  const tensors = [];
  const rowsPer = 4096; // 16 MiB tensors
  const count = Math.max(1, Math.round(bytes / (rowsPer * 1024 * 4)));
  for (let i = 0; i < count; i++) {
    tensors.push({ name: `layers.${i}.weight`, dtype: 'F32', shape: [rowsPer, 1024], scale: 0.01 + 0.005 * (i % 7) });
    tensors.push({ name: `layers.${i}.bias`, dtype: 'F32', shape: [1024], scale: 0.1 });
  }
  return writeSafetensors(path, tensors, seed);
}

const newest = (dir) => readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
  const p = join(dir, e.name);
  return Math.max(m, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
}, 0);
const srcTime = () => Math.max(newest(join(ROOT, 'src')), statSync(join(ROOT, 'Cargo.toml')).mtimeMs);

/** Builds both wasm packages (scripts/build-wasm.sh) when missing or older than the sources. */
export function ensureWasm() {
  const pkgs = ['simd', 'scalar'].map((b) => join(ROOT, 'www', 'pkg', b, 'stzip_bg.wasm'));
  const src = srcTime();
  if (pkgs.every((p) => existsSync(p) && statSync(p).mtimeMs >= src)) return;
  if (process.env.STZIP_E2E_NO_BUILD) { console.log('# warning: www/pkg is older than src/ (STZIP_E2E_NO_BUILD set, not rebuilding)'); return; }
  console.log('# building the wasm packages (scripts/build-wasm.sh)…');
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'build-wasm.sh')], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('scripts/build-wasm.sh failed');
}

/** Builds the release CLI when it is missing or older than the sources. */
export function ensureCli() {
  if (existsSync(CLI) && statSync(CLI).mtimeMs >= srcTime()) return CLI;
  if (process.env.STZIP_E2E_NO_BUILD && existsSync(CLI)) return CLI;
  console.log('# building the native CLI (cargo build --release)…');
  const r = spawnSync('cargo', ['build', '--release', '--bin', 'stzip'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('cargo build --release failed');
  return CLI;
}

/** Runs the CLI; returns wall seconds. Throws on failure. */
/**
 * Starts the mock Hub (tests/hub/mock-hub.mjs, tied to this process by
 * --lifeline) with extra arguments; resolves { mock, hub, cdn, repos }
 * once it prints its origins.
 */
export async function startMockHub(extraArgs = []) {
  const mock = spawn(process.execPath, [join(ROOT, 'tests', 'hub', 'mock-hub.mjs'), '--lifeline', ...extraArgs],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const info = await new Promise((res, rej) => {
    let text = '';
    mock.stdout.on('data', (d) => {
      text += d;
      const nl = text.indexOf('\n');
      if (nl >= 0) { try { res(JSON.parse(text.slice(0, nl))); } catch (e) { rej(e); } }
    });
    mock.once('exit', (code) => rej(new Error(`mock-hub.mjs exited (${code})`)));
  });
  return { mock, ...info };
}

/** Runs the CLI and parses its standard output as JSON. */
export function cliJson(args) {
  const r = spawnSync(CLI, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`stzip ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

export function cli(args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(CLI, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`stzip ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}
