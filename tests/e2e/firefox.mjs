// Smoke test of the page in Firefox ESR through geckodriver (W3C WebDriver;
// playwright-core cannot drive a stock Firefox). Round trip of the demo
// file, lossless and lossy, bytes compared with the native CLI.
//   node tests/e2e/firefox.mjs     (run.mjs calls it too when geckodriver is installed)
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, cli, ensureCli, startServer } from './lib.mjs';

export const GECKODRIVER = process.env.GECKODRIVER ?? [join(homedir(), '.cargo', 'bin', 'geckodriver'), '/usr/bin/geckodriver', '/usr/local/bin/geckodriver'].find(existsSync);
const FIREFOX = process.env.FIREFOX ?? ['/usr/bin/firefox-esr', '/usr/bin/firefox'].find(existsSync);
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf'; // the W3C WebDriver element key
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const freePort = () => new Promise((res) => { const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); }); });

async function webdriver() {
  const port = await freePort();
  const driver = spawn(GECKODRIVER, ['--port', String(port), '--host', '127.0.0.1'], { stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  const call = async (method, path, body) => {
    const res = await fetch(base + path, { method, headers: { 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
    const json = await res.json();
    if (json.value?.error) throw new Error(`${json.value.error}: ${json.value.message}`);
    return json.value;
  };
  for (let i = 0; ; i++) {
    try { await fetch(`${base}/status`); break; } catch { if (i > 100) throw new Error('geckodriver did not start'); await sleep(100); }
  }
  const profile = mkdtempSync(join(tmpdir(), 'stzip-ff-'));
  const { sessionId } = await call('POST', '/session', { capabilities: { alwaysMatch: { browserName: 'firefox',
    'moz:firefoxOptions': { binary: FIREFOX, args: ['-headless', '-profile', profile] } } } });
  const s = (path) => `/session/${sessionId}${path}`;
  return {
    go: (url) => call('POST', s('/url'), { url }),
    // Runs `body` (an async function body) in the page and returns its result.
    run: (body, ...args) => call('POST', s('/execute/async'), { script: `const done = arguments[arguments.length - 1];
      (async (...args) => { ${body} })(...Array.from(arguments).slice(0, -1)).then(done, (e) => done({ failure: String(e && e.message || e) }));`, args }),
    find: async (css) => (await call('POST', s('/element'), { using: 'css selector', value: css }))[ELEMENT],
    type: (el, text) => call('POST', s(`/element/${el}/value`), { text }),
    click: (el) => call('POST', s(`/element/${el}/click`), {}),
    timeouts: (ms) => call('POST', s('/timeouts'), { script: ms }),
    quit: async () => {
      await call('DELETE', s('')).catch(() => {});
      driver.kill();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

const sha = (buf) => createHash('sha256').update(buf).digest('hex');

/** Returns a one-line summary; throws on failure. */
export async function firefoxSmoke(server) {
  if (!GECKODRIVER || !FIREFOX) return 'skipped (no geckodriver or Firefox)';
  ensureCli();
  const tmp = mkdtempSync(join(tmpdir(), 'stzip-ff-out-'));
  const demo = join(ROOT, 'www', 'demo.safetensors');
  const wd = await webdriver();
  try {
    await wd.timeouts(120_000);
    await wd.go(`${server.url}?nosw`);
    const info = await wd.run(`
      for (let i = 0; i < 300 && !document.getElementById('build').dataset.build; i++) await new Promise((r) => setTimeout(r, 100));
      return { build: document.getElementById('build').dataset.build, text: document.getElementById('build').textContent, coi: crossOriginIsolated };`);
    if (info.build !== 'simd' && info.build !== 'scalar') throw new Error(`wasm did not load: ${info.text}`);
    const results = [];
    for (const [mode, args] of [['lossless', []], ['bpw', ['--bits-per-weight', '4.5']]]) {
      await wd.type(await wd.find('#file'), demo); // (stzipDebug.run below chose another file)
      // Through the page's controls: the mode, then Compress, then wait for the run to end.
      const r = await wd.run(`
        const [mode] = args;
        const $ = (id) => document.getElementById(id);
        $('mode').value = mode; $('mode').dispatchEvent(new Event('change'));
        if (mode === 'bpw') $('bpw').value = '4.5';
        const before = Number($('status').dataset.run ?? 0);
        $('compress').click();
        while (!(Number($('status').dataset.run ?? 0) > before && ['done', 'error', 'cancelled'].includes($('status').dataset.state))) await new Promise((r) => setTimeout(r, 50));
        if ($('status').dataset.state !== 'done') return { failure: $('error').textContent };
        const stz = new Uint8Array(await window.stzipDebug.lastResult.arrayBuffer());
        const hex = async (b) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', b))].map((x) => x.toString(16).padStart(2, '0')).join('');
        // And back: decompress the result in the page.
        const back = await window.stzipDebug.run({ file: new File([stz], 'demo.safetensors.stz'), op: 'decompress' });
        return { stz: await hex(stz), back: await hex(await back.blob.arrayBuffer()), snr: window.stzipDebug.lastReport.snrDb };`, mode);
      if (r.failure) throw new Error(`${mode}: ${r.failure}`);
      const out = join(tmp, `${mode}.stz`);
      cli(['compress', '--force', '-q', ...args, demo, '-o', out]);
      if (r.stz !== sha(readFileSync(out))) throw new Error(`${mode}: Firefox's .stz differs from the CLI's`);
      const dec = join(tmp, `${mode}.safetensors`);
      cli(['decompress', '--force', '-q', out, '-o', dec]);
      if (r.back !== sha(readFileSync(dec))) throw new Error(`${mode}: Firefox's decompressed file differs from the CLI's`);
      results.push(mode);
    }
    return `Firefox (${info.build} build, crossOriginIsolated ${info.coi}): ${results.join(' and ')} .stz identical to the CLI, round trips identical`;
  } finally {
    await wd.quit();
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = await startServer();
  try {
    console.log(`ok   firefox — ${await firefoxSmoke(server)}`);
  } catch (e) {
    console.log(`FAIL firefox — ${e.message}`);
    process.exitCode = 1;
  } finally { await server.stop(); }
}
