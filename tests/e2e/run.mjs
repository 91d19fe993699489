// End-to-end tests of the page in headless Chromium (playwright-core, no
// browser download). Starts scripts/serve.mjs on a free port, runs every
// test, prints one line per test, exits non-zero on any failure.
//   node tests/e2e/run.mjs [name-filter]
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OUT, ROOT, assert, cli, cliJson, ensureCli, ensureWasm, launch, sameBytes, startServer, writeSafetensors, writeSynthetic } from './lib.mjs';
import { firefoxSmoke } from './firefox.mjs';
import { hubTests, stopHub } from './hub.mjs';

const DEMO = join(ROOT, 'www', 'demo.safetensors');
const tmp = mkdtempSync(join(tmpdir(), 'stzip-e2e-'));
const filter = process.argv[2] ?? '';
const requests = [];    // every request any page made (test 6)
const problems = [];    // page errors and CSP violations, from every test
let server, browser;


/** A fresh context + page with request / error logging. */
async function openPage(query = '') {
  const context = await browser.newContext({ acceptDownloads: true });
  context.on('request', (r) => requests.push(r.url()));
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}${process.env.VERBOSE ? ` ${e.stack}` : ''}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.dialogs = [];
  page.on('dialog', (d) => { page.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  await page.goto(server.url + query);
  await page.waitForFunction(() => document.getElementById('build').dataset.build, null, { timeout: 30_000 });
  const build = await page.$eval('#build', (e) => e.dataset.build);
  assert(build !== 'error', `wasm did not load: ${await page.textContent('#build')}`);
  // Headless Chromium has showSaveFilePicker but nobody can answer it: use the download path.
  const picker = page.getByLabel('Choose where to save before starting');
  if (await picker.isVisible()) await picker.uncheck();
  return { context, page };
}

/** Clicks a button and waits for the run it starts to end; returns the final state. */
async function runAndWait(page, buttonName, timeout = 120_000) {
  const before = Number(await page.$eval('#status', (e) => e.dataset.run ?? 0));
  await page.getByRole('button', { name: buttonName, exact: true }).click();
  await page.waitForFunction((n) => {
    const s = document.getElementById('status');
    return Number(s.dataset.run ?? 0) > n && ['done', 'error', 'cancelled'].includes(s.dataset.state);
  }, before, { timeout });
  return page.$eval('#status', (e) => e.dataset.state);
}

async function expectDone(page, buttonName) {
  const state = await runAndWait(page, buttonName);
  if (state !== 'done') throw new Error(`${buttonName}: ended "${state}": ${await page.textContent('#error')}`);
}

async function save(page, path) {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Save', exact: true }).click()]);
  await dl.saveAs(path);
  return dl.suggestedFilename();
}

async function setMode(page, mode, value) {
  await page.getByLabel('Mode').selectOption(mode);
  if (mode === 'bpw') await page.getByLabel('Bits per weight').fill(String(value));
  if (mode === 'snr') await page.getByLabel('SNR target').fill(String(value));
}

// ---- the tests ----

const tests = {
  async 'round trip lossless + lossy, bytes identical to the CLI'() {
    ensureCli();
    const input = join(tmp, 'demo.safetensors');
    writeFileSync(input, readFileSync(DEMO));
    const { context, page } = await openPage();
    try {
      // Lossless: browser .stz == CLI .stz, and decompressing gives the original back.
      await page.getByLabel('Choose a file').setInputFiles(input);
      await setMode(page, 'lossless');
      await expectDone(page, 'Compress');
      const name = await save(page, join(tmp, 'browser.stz'));
      assert(name === 'demo.safetensors.stz', `suggested name ${name}`);
      cli(['compress', '--force', '-q', input, '-o', join(tmp, 'cli.stz')]);
      sameBytes(join(tmp, 'browser.stz'), join(tmp, 'cli.stz'), 'lossless .stz vs CLI');
      await page.getByLabel('Choose a file').setInputFiles(join(tmp, 'browser.stz'));
      await expectDone(page, 'Decompress');
      await save(page, join(tmp, 'restored.safetensors'));
      sameBytes(join(tmp, 'restored.safetensors'), input, 'restored vs original');

      // Lossy at 4.5 bits per weight: browser .stz == CLI .stz; both decompress alike.
      await page.getByLabel('Choose a file').setInputFiles(input);
      await setMode(page, 'bpw', 4.5);
      await expectDone(page, 'Compress');
      await save(page, join(tmp, 'browser-4.5.stz'));
      cli(['compress', '--force', '-q', '--bits-per-weight', '4.5', input, '-o', join(tmp, 'cli-4.5.stz')]);
      sameBytes(join(tmp, 'browser-4.5.stz'), join(tmp, 'cli-4.5.stz'), 'lossy .stz vs CLI');
      const snr = await page.evaluate(() => window.stzipDebug.lastReport.snrDb);
      assert(Number.isFinite(snr), `lossy report has no SNR (${snr})`);
      // The report's transform column says what the CLI's inspect says.
      const pageTransforms = await page.evaluate(() => window.stzipDebug.lastReport.tensors.map((t) => t.transform));
      const cliTransforms = cliJson(['inspect', '--json', join(tmp, 'cli-4.5.stz')]).tensors.map((t) => t.transform);
      assert(JSON.stringify(pageTransforms) === JSON.stringify(cliTransforms), `transforms ${pageTransforms} vs CLI ${cliTransforms}`);
      assert(pageTransforms[0] === 'dct-0' && pageTransforms.includes('none'), `transforms ${pageTransforms}`);
      const shown = await page.locator('#tensors tbody tr').first().locator('td').last().textContent();
      assert(shown === pageTransforms[0], `transform cell ${shown}`);
      await page.getByLabel('Choose a file').setInputFiles(join(tmp, 'browser-4.5.stz'));
      await expectDone(page, 'Decompress');
      await save(page, join(tmp, 'browser-4.5.safetensors'));
      cli(['decompress', '--force', '-q', join(tmp, 'cli-4.5.stz'), '-o', join(tmp, 'cli-4.5.safetensors')]);
      sameBytes(join(tmp, 'browser-4.5.safetensors'), join(tmp, 'cli-4.5.safetensors'), 'lossy decompressed vs CLI');
      return `lossless and 4.5 bpw (SNR ${snr.toFixed(2)} dB) identical to the CLI; round trip exact`;
    } finally { await context.close(); }
  },

  async 'save to a picked file (showSaveFilePicker → createWritable in the worker)'() {
    ensureCli();
    // Headless Chromium cannot answer the real picker: stand in for it with an OPFS file handle,
    // which has the same FileSystemFileHandle / createWritable() interface.
    const context = await browser.newContext({ acceptDownloads: true });
    context.on('request', (r) => requests.push(r.url()));
    await context.addInitScript(() => {
      window.showSaveFilePicker = async ({ suggestedName }) =>
        (await navigator.storage.getDirectory()).getFileHandle(`picked-${suggestedName}`, { create: true });
    });
    const page = await context.newPage();
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    try {
      await page.goto(server.url);
      await page.waitForFunction(() => document.getElementById('build').dataset.build);
      await page.getByLabel('Choose where to save before starting').check();
      await page.getByLabel('Choose a file').setInputFiles(DEMO);
      await setMode(page, 'lossless');
      await expectDone(page, 'Compress');
      const b64 = await page.evaluate(async () => {
        const f = await (await (await navigator.storage.getDirectory()).getFileHandle('picked-demo.safetensors.stz')).getFile();
        const u8 = new Uint8Array(await f.arrayBuffer());
        let s = '';
        for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode(...u8.subarray(i, i + 0x8000));
        return btoa(s);
      });
      writeFileSync(join(tmp, 'picked.stz'), Buffer.from(b64, 'base64'));
      cli(['compress', '--force', '-q', DEMO, '-o', join(tmp, 'cli-picked.stz')]);
      sameBytes(join(tmp, 'picked.stz'), join(tmp, 'cli-picked.stz'), 'picked file vs CLI');
      const status = await page.textContent('#status');
      assert(/Saved as picked-demo\.safetensors\.stz/.test(status), `status: ${status}`);
      return 'written by the coordinator with createWritable(); identical to the CLI';
    } finally { await context.close(); }
  },

  async 'demo button'() {
    const { context, page } = await openPage();
    try {
      await setMode(page, 'lossless');
      const before = Number(await page.$eval('#status', (e) => e.dataset.run ?? 0));
      await page.getByRole('button', { name: 'Try the demo file' }).click();
      await page.waitForFunction((n) => Number(document.getElementById('status').dataset.run ?? 0) > n &&
        ['done', 'error', 'cancelled'].includes(document.getElementById('status').dataset.state), before);
      assert(await page.$eval('#status', (e) => e.dataset.state) === 'done', await page.textContent('#error'));
      // Every control the issue names is found by its label / accessible name, once, even with a report shown.
      for (const name of ['Choose a file', 'Mode', 'Bits per weight', 'SNR target']) {
        const n = await page.getByLabel(name).count();
        assert(n === 1, `getByLabel('${name}') finds ${n} elements`);
      }
      for (const name of ['Compress', 'Decompress', 'Cancel', 'Save', 'Try the demo file']) {
        const n = await page.getByRole('button', { name, exact: true }).count();
        assert(n === 1, `button '${name}' found ${n} times`);
      }
      // Keyboard: Tab from the top reaches the file input and the buttons.
      const reached = new Set();
      await page.locator('body').focus();
      for (let i = 0; i < 20; i++) {
        await page.keyboard.press('Tab');
        reached.add(await page.evaluate(() => document.activeElement?.id));
      }
      for (const id of ['file', 'demo', 'mode', 'bpw', 'snr', 'compress', 'decompress', 'save']) assert(reached.has(id), `Tab never reaches #${id}`);
      const rows = await page.locator('#tensors tbody tr').count();
      assert(rows > 0, 'no tensor rows');
      assert(await page.locator('#chart circle').count() === rows, 'chart dots != table rows');
      // The JSON report.
      const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download report (JSON)' }).click()]);
      const json = JSON.parse(readFileSync(await dl.path(), 'utf8'));
      assert(json.report.tensors.length === rows && json.report.rawBytes === readFileSync(DEMO).length, 'JSON report does not match');
      assert(dl.suggestedFilename() === 'demo.safetensors.report.json', `report name ${dl.suggestedFilename()}`);
      return `${rows} tensors in the report, chart and JSON report agree`;
    } finally { await context.close(); }
  },

  async 'cancel mid-way, then a second run'() {
    const big = await writeSynthetic(join(OUT, 'cancel-192MiB.safetensors'), 192 << 20, 3);
    const { context, page } = await openPage();
    const notes = [];
    try {
      await page.getByLabel('Choose a file').setInputFiles(big);
      await page.getByLabel('Workers').fill('1');
      for (const mode of ['lossless', 'snr']) {
        await setMode(page, mode, 30);
        await page.getByRole('button', { name: 'Compress', exact: true }).click();
        await page.waitForFunction(() => document.getElementById('read-bar').value > 0.05 ||
          ['done', 'error'].includes(document.getElementById('status').dataset.state), null, { timeout: 60_000 });
        // The main thread stays responsive while the workers run: longest gap between animation frames.
        const gap = await page.evaluate(() => new Promise((res) => {
          let last = performance.now(), max = 0;
          const t0 = last;
          const tick = (t) => { max = Math.max(max, t - last); last = t; if (t - t0 < 500) requestAnimationFrame(tick); else res(max); };
          requestAnimationFrame(tick);
        }));
        const frac = await page.$eval('#read-bar', (e) => e.value);
        assert(await page.$eval('#status', (e) => e.dataset.state) === 'running', `${mode}: the run ended before Cancel could be clicked`);
        const t = Date.now();
        await page.getByRole('button', { name: 'Cancel' }).click();
        await page.waitForFunction(() => document.getElementById('status').dataset.state === 'cancelled', null, { timeout: 5_000 });
        const ms = Date.now() - t;
        // Nothing left behind in the Origin Private File System.
        await page.waitForFunction(async () => !(await window.stzipDebug.opfsEntries()).some((n) => n.startsWith('stzip-tmp-')), null, { timeout: 5_000 });
        assert(await page.getByRole('button', { name: 'Compress', exact: true }).isEnabled(), 'Compress not enabled after cancel');
        assert(await page.getByRole('button', { name: 'Save', exact: true }).isDisabled(), 'Save enabled after cancel');
        assert(gap < 250, `${mode}: the main thread stalled for ${gap.toFixed(0)} ms`);
        notes.push(`${mode} cancelled at ${(frac * 100).toFixed(0)} % read in ${ms} ms (longest frame gap ${gap.toFixed(0)} ms)`);
      }
      // A second run works.
      await page.getByLabel('Choose a file').setInputFiles(DEMO);
      await expectDone(page, 'Compress');
      return `${notes.join('; ')}; OPFS temp removed; next run done`;
    } finally { await context.close(); }
  },

  async 'corrupt .stz gives a clear error'() {
    ensureCli();
    const good = join(tmp, 'corrupt-src.stz');
    cli(['compress', '--force', '-q', DEMO, '-o', good]);
    const bytes = readFileSync(good);
    bytes[bytes.length >> 1] ^= 0x5a;
    const bad = join(tmp, 'corrupt.stz');
    writeFileSync(bad, bytes);
    const { context, page } = await openPage();
    try {
      await page.getByLabel('Choose a file').setInputFiles(bad);
      const state = await runAndWait(page, 'Decompress');
      assert(state === 'error', `state ${state}, expected error`);
      const msg = (await page.textContent('#error')).trim();
      assert(msg.length > 5 && await page.locator('#error').isVisible(), 'no error text shown');
      assert(await page.getByRole('button', { name: 'Save', exact: true }).isDisabled(), 'Save enabled after a failed run');
      // A truncated .safetensors: refused before anything is written.
      const cut = join(tmp, 'cut.safetensors');
      writeFileSync(cut, readFileSync(DEMO).subarray(0, 1_000_000));
      await page.getByLabel('Choose a file').setInputFiles(cut);
      assert(await runAndWait(page, 'Compress') === 'error', 'truncated input was not refused');
      const msg2 = (await page.textContent('#error')).trim();
      await page.getByLabel('Choose a file').setInputFiles(DEMO);
      await expectDone(page, 'Compress');
      return `"${msg}"; truncated input: "${msg2}"; next run fine`;
    } finally { await context.close(); }
  },

  async 'tensor names render as text'() {
    const evil = '<img src=x onerror=alert(1)>';
    const path = join(tmp, `${evil}.safetensors`);
    // Many small tensors of several dtypes too (they are read in blocks, not one slice each).
    await writeSafetensors(path, [
      { name: evil, dtype: 'F32', shape: [16, 16] },
      { name: 'ok.weight', dtype: 'F32', shape: [8, 32] },
      ...Array.from({ length: 40 }, (_, i) => ({ name: `small.${i}`, dtype: ['F32', 'I64', 'U8', 'F16'][i % 4], shape: [3 + i, 17] })),
      { name: 'big.weight', dtype: 'F32', shape: [600, 1024] },
    ]);
    const { context, page } = await openPage();
    try {
      await page.getByLabel('Choose a file').setInputFiles(path);
      await setMode(page, 'lossless');
      await expectDone(page, 'Compress');
      const cells = await page.locator('#tensors tbody th').allTextContents();
      assert(cells.includes(evil), `name not shown as text: ${JSON.stringify(cells)}`);
      assert(await page.locator('#tensors img').count() === 0, 'an <img> got into the table');
      assert(await page.locator('img').count() === 0, 'an <img> got into the page');
      const name = await save(page, join(tmp, 'evil.stz'));
      assert(!/[<>/\\]/.test(name), `unsafe download name ${name}`);
      ensureCli();
      cli(['compress', '--force', '-q', path, '-o', join(tmp, 'evil-cli.stz')]);
      sameBytes(join(tmp, 'evil.stz'), join(tmp, 'evil-cli.stz'), 'many small tensors: .stz vs CLI');
      await page.waitForTimeout(200);
      assert(page.dialogs.length === 0, `a dialog fired: ${page.dialogs}`);
      return `shown as text; download name "${name}"; 43 tensors, .stz identical to the CLI`;
    } finally { await context.close(); }
  },

  async 'wasm build choice'() {
    const out = [];
    for (const [q, simd] of [['', true], ['?wasm=scalar', false], ['?wasm=simd', true]]) {
      const { context, page } = await openPage(q);
      try {
        const d = await page.$eval('#build', (e) => ({ ...e.dataset, text: e.textContent }));
        assert(d.simd === String(simd), `${q || 'default'}: simd=${d.simd} (${d.text})`);
        await page.getByLabel('Choose a file').setInputFiles(DEMO);
        await expectDone(page, 'Compress');
        const info = await page.evaluate(() => window.stzipDebug.info);
        out.push(`${q || 'default'} → ${d.build} (buildInfo().simd = ${info.simd})`);
      } finally { await context.close(); }
    }
    // An engine without SIMD (simulated: the feature probe fails) gets the scalar build.
    const context = await browser.newContext();
    context.on('request', (r) => requests.push(r.url()));
    await context.addInitScript(() => { WebAssembly.validate = () => false; });
    try {
      const page = await context.newPage();
      await page.goto(server.url + '?nosw');
      await page.waitForFunction(() => document.getElementById('build').dataset.build);
      const d = await page.$eval('#build', (e) => ({ ...e.dataset, text: e.textContent }));
      assert(d.build === 'scalar' && d.simd === 'false' && /no WebAssembly SIMD/.test(d.text), `no-SIMD engine: ${JSON.stringify(d)}`);
      await page.getByLabel('Choose a file').setInputFiles(DEMO);
      await expectDone(page, 'Compress');
      assert(/scalar build/.test(await page.textContent('#status')), 'the run did not use the scalar build');
      out.push('no SIMD → scalar');
    } finally { await context.close(); }
    return out.join('; ');
  },

  async 'offline after the first load'() {
    const { context, page } = await openPage();
    try {
      // Wait until the service worker has cached everything, then go offline and reload.
      await page.evaluate(async () => {
        await navigator.serviceWorker.ready;
        for (let i = 0; i < 100; i++) {
          const c = await caches.open('stzip-v1');
          if ((await c.keys()).length >= 12) return;
          await new Promise((r) => setTimeout(r, 100));
        }
      });
      await context.setOffline(true);
      await page.reload();
      await page.waitForFunction(() => document.getElementById('build').dataset.build, null, { timeout: 30_000 });
      assert(await page.$eval('#build', (e) => e.dataset.build) !== 'error', 'wasm not loaded offline');
      const picker = page.getByLabel('Choose where to save before starting');
      if (await picker.isVisible()) await picker.uncheck();
      const before = Number(await page.$eval('#status', (e) => e.dataset.run ?? 0));
      await page.getByRole('button', { name: 'Try the demo file' }).click();
      await page.waitForFunction((n) => Number(document.getElementById('status').dataset.run ?? 0) > n &&
        document.getElementById('status').dataset.state === 'done', before, { timeout: 60_000 });
      return 'page, wasm and demo served from the cache';
    } finally { await context.close(); }
  },

  async 'screenshot with a report'() {
    const { context, page } = await openPage();
    try {
      await page.setViewportSize({ width: 1100, height: 900 });
      await setMode(page, 'snr', 30);
      await page.getByLabel('Choose a file').setInputFiles(DEMO);
      await expectDone(page, 'Compress');
      const path = join(OUT, 'screenshot.png');
      await page.screenshot({ path, fullPage: true });
      return path;
    } finally { await context.close(); }
  },

  async 'Firefox ESR round trip (geckodriver)'() {
    return firefoxSmoke(server);
  },

  // Straight from the (mock) Hugging Face Hub: own server, own contexts (their requests go to the mock on purpose).
  ...hubTests(() => browser),

  // Last: checks what every earlier test's pages requested.
  async 'all requests go to the page origin'() {
    const origin = new URL(server.url).origin;
    const foreign = requests.filter((u) => {
      if (u.startsWith('data:')) return false;
      try { return new URL(u).origin !== origin; } catch { return true; }
    });
    assert(requests.length > 0, 'no requests logged');
    assert(foreign.length === 0, `requests to other origins: ${[...new Set(foreign)].join(', ')}`);
    assert(problems.length === 0, `page errors / CSP violations: ${problems.join(' | ')}`);
    return `${requests.length} requests, all to ${origin}; no page errors or CSP violations`;
  },
};

// ---- runner ----

let failed = 0;
try {
  if (!process.env.STZIP_WWW) ensureWasm();
  server = await startServer();
  browser = await launch();
  for (const [name, fn] of Object.entries(tests)) {
    if (filter && !new RegExp(filter, 'i').test(name)) continue;
    const t = Date.now();
    try {
      const note = await Promise.race([fn(), new Promise((_, rej) => setTimeout(() => rej(new Error('timed out after 300 s')), 300_000))]);
      console.log(`ok   ${name} (${((Date.now() - t) / 1000).toFixed(1)} s)${note ? ` — ${note}` : ''}`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name} (${((Date.now() - t) / 1000).toFixed(1)} s) — ${e.message.split('\n')[0]}`);
      if (process.env.VERBOSE) console.log(e.stack);
    }
  }
} finally {
  await browser?.close();
  await server?.stop();
  await stopHub();
  rmSync(tmp, { recursive: true, force: true });
}
console.log(failed ? `${failed} test(s) failed` : 'all tests passed');
process.exit(failed ? 1 : 0);
