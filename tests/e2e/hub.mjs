// End-to-end tests of "compress straight from the Hugging Face Hub" in the
// page, against the mock Hub (tests/hub/mock-hub.mjs: a Hub origin and a CDN
// origin on 127.0.0.1). The page is served by its own scripts/serve.mjs with
// the mock's two origins added to the CSP (header and meta tag).
// Used by run.mjs: hubTests(getBrowser) → { name: async fn }, stopHub().
import { once } from 'node:events';
import { openSync, readFileSync, readSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { OUT, assert, cli, ensureCli, sameBytes, startMockHub, startServer } from './lib.mjs';

const TOKEN = 'hf_testtoken';
const CHUNK = 8 << 20; // the codec's chunk size: the budget per dropped connection is two of them
let env = null;


/** Starts the mock Hub and a page server that may connect to it (once, shared by the tests). */
async function start() {
  if (env) return env;
  const info = await startMockHub(['--max-seconds', '900']);
  const server = await startServer(['--connect', `${info.hub},${info.cdn}`]);
  env = { server, ...info, tmp: mkdtempSync(join(tmpdir(), 'stzip-hub-e2e-')) };
  return env;
}

export async function stopHub() {
  if (!env) return;
  await env.server.stop();
  env.mock.stdin.end();
  env.mock.kill('SIGTERM');
  await once(env.mock, 'exit').catch(() => {});
  env = null;
}

const hubLog = async () => (await fetch(`${env.hub}/__log`)).json();
const resetLog = () => fetch(`${env.hub}/__log/reset`, { method: 'POST' });

/** Tensor count and parameters by dtype, from a safetensors file's header (independent of the page). */
function headerFacts(path) {
  const fd = openSync(path, 'r');
  const b8 = Buffer.alloc(8);
  readSync(fd, b8, 0, 8, 0);
  const n = Number(b8.readBigUInt64LE());
  const json = Buffer.alloc(n);
  readSync(fd, json, 0, n, 8);
  closeSync(fd);
  const h = JSON.parse(json.toString());
  const params = {};
  let tensors = 0;
  for (const [k, t] of Object.entries(h)) {
    if (k === '__metadata__') continue;
    tensors++;
    params[t.dtype] = (params[t.dtype] ?? 0) + t.shape.reduce((a, x) => a * x, 1);
  }
  return { size: statSync(path).size, tensors, params };
}

async function openHubPage(browser) {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  page.problems = [];
  page.consoleText = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    page.consoleText.push(m.text());
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) page.problems.push(`console: ${m.text()}`);
  });
  await page.goto(`${env.server.url}?nosw&hub=${encodeURIComponent(env.hub)}`);
  await page.waitForFunction(() => document.getElementById('build').dataset.build, null, { timeout: 30_000 });
  assert(await page.$eval('#build', (e) => e.dataset.build) !== 'error', 'wasm did not load');
  const picker = page.getByLabel('Choose where to save before starting');
  if (await picker.isVisible()) await picker.uncheck();
  return { context, page };
}

/** Types a repo (and token), clicks List files, waits; returns the listing state. */
async function list(page, repo, token = '') {
  await page.getByLabel('Hugging Face repo').fill(repo);
  await page.getByLabel('Access token').fill(token);
  await page.$eval('#hub-status', (e) => { e.dataset.state = 'idle'; });
  await page.getByRole('button', { name: 'List files' }).click();
  await page.waitForFunction(() => ['listed', 'error'].includes(document.getElementById('hub-status').dataset.state), null, { timeout: 60_000 });
  return page.$eval('#hub-status', (e) => e.dataset.state);
}

/** The listing table: [{ path, bytes, tensors, params, text }]. */
const rows = (page) => page.$$eval('#hub-files tbody tr', (trs) => trs.map((tr) => ({
  path: tr.dataset.path, bytes: Number(tr.dataset.bytes), tensors: Number(tr.dataset.tensors),
  params: tr.dataset.params ? JSON.parse(tr.dataset.params) : null, text: [...tr.cells].map((c) => c.textContent),
})));

async function compressAll(page, timeout = 240_000) {
  const before = Number(await page.$eval('#status', (e) => e.dataset.run ?? 0));
  await page.getByRole('button', { name: 'Compress all' }).click();
  await page.waitForFunction((n) => {
    const s = document.getElementById('status');
    return Number(s.dataset.run ?? 0) > n && ['done', 'error', 'cancelled'].includes(s.dataset.state);
  }, before, { timeout });
  const state = await page.$eval('#status', (e) => e.dataset.state);
  if (state !== 'done') throw new Error(`Compress all ended "${state}": ${await page.textContent('#error')}`);
}

/** Clicks "Save <name>", saves the download under dir; returns the path. */
async function saveOne(page, name, dir) {
  dir = join(env.tmp, dir);
  mkdirSync(dir, { recursive: true });
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: `Save ${name}`, exact: true }).click()]);
  assert(dl.suggestedFilename() === name, `download named ${dl.suggestedFilename()}, expected ${name}`);
  const path = join(dir, name);
  await dl.saveAs(path);
  return path;
}

/** Decompresses a saved .stz with the CLI and compares it with the mock's original file. */
function checkStz(stz, original, what) {
  const out = stz.replace(/\.stz$/, '.restored');
  cli(['decompress', '--force', '-q', stz, '-o', out]);
  sameBytes(out, original, what);
  // Lossless: the page's .stz is also byte-identical to the CLI's for the same file.
  const ref = stz.replace(/\.stz$/, '.cli.stz');
  cli(['compress', '--force', '-q', original, '-o', ref]);
  sameBytes(stz, ref, `${what}: page .stz vs CLI .stz`);
}

function checkFacts(row, facts, what) {
  assert(row.bytes === facts.size, `${what}: size ${row.bytes}, expected ${facts.size}`);
  assert(row.tensors === facts.tensors, `${what}: ${row.tensors} tensors, expected ${facts.tensors}`);
  assert(JSON.stringify(row.params) === JSON.stringify(facts.params), `${what}: params ${JSON.stringify(row.params)}, expected ${JSON.stringify(facts.params)}`);
  for (const [d, n] of Object.entries(facts.params)) {
    assert(row.text[3].includes(`${d}: ${n.toLocaleString('en-US')}`), `${what}: parameters shown as "${row.text[3]}"`);
  }
  assert(/\d/.test(row.text[1]), `${what}: no size shown ("${row.text[1]}")`);
}

export function hubTests(getBrowser) {
  return {
    async 'Hub: sharded repo listed, compressed, saved; CLI restores every shard'() {
      ensureCli();
      await start();
      await resetLog();
      const { context, page } = await openHubPage(getBrowser());
      try {
        // The served page allows exactly the Hub hosts plus the mock's origins, in both the header and the meta tag.
        const csp = await page.$eval('meta[http-equiv="Content-Security-Policy"]', (m) => m.content);
        assert(csp.includes(env.hub) && csp.includes(env.cdn) && csp.includes('https://huggingface.co'), `meta CSP: ${csp}`);
        assert(await list(page, 'test/sharded') === 'listed', `listing failed: ${await page.textContent('#error')}`);
        const dir = join(env.repos, 'test', 'sharded');
        const shards = [1, 2, 3].map((i) => `model-0000${i}-of-00003.safetensors`);
        const r = await rows(page);
        assert(r.length === 4, `expected 3 shards + the index, got ${JSON.stringify(r.map((x) => x.path))}`);
        for (const [i, s] of shards.entries()) checkFacts(r[i], headerFacts(join(dir, s)), s);
        assert(r[3].path === 'model.safetensors.index.json', `last row ${r[3].path}`);
        // No shard was downloaded for the listing: only Range requests reached the CDN.
        const peeks = (await hubLog()).filter((e) => e.origin === 'cdn' && e.method === 'GET');
        assert(peeks.every((e) => e.range && /^bytes=0-\d+$/.test(e.range)), `listing fetched more than headers: ${JSON.stringify(peeks.map((e) => e.range))}`);
        const peekBytes = peeks.reduce((a, e) => a + e.bytes, 0);

        await compressAll(page);
        await page.setViewportSize({ width: 1100, height: 900 });
        await page.locator('#hub-form').screenshot({ path: join(OUT, 'hub-screenshot.png') });
        for (const s of shards) checkStz(await saveOne(page, `${s}.stz`, 'sharded'), join(dir, s), s);
        const idxPath = await saveOne(page, 'model.safetensors.index.json', 'sharded');
        const idx = JSON.parse(readFileSync(idxPath, 'utf8'));
        const orig = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
        assert(JSON.stringify(idx.metadata) === JSON.stringify(orig.metadata), 'index metadata changed');
        for (const [t, s] of Object.entries(orig.weight_map)) assert(idx.weight_map[t] === `${s}.stz`, `index maps ${t} to ${idx.weight_map[t]}`);
        assert(Object.keys(idx.weight_map).length === Object.keys(orig.weight_map).length, 'index lost tensors');

        // "Save all" offers every output once, the same bytes as the single saves.
        const expected = [...shards.map((s) => `${s}.stz`), 'model.safetensors.index.json'].sort();
        const downloads = [];
        const onDownload = (d) => downloads.push(d);
        page.on('download', onDownload);
        await page.getByRole('button', { name: 'Save all' }).click();
        for (const end = Date.now() + 30_000; downloads.length < expected.length && Date.now() < end;) await new Promise((r) => setTimeout(r, 100));
        await new Promise((r) => setTimeout(r, 500)); // no extra download may follow
        page.off('download', onDownload);
        const names = downloads.map((d) => d.suggestedFilename()).sort();
        assert(JSON.stringify(names) === JSON.stringify(expected), `Save all offered ${names.join(', ')}`);
        mkdirSync(join(env.tmp, 'all'), { recursive: true });
        for (const d of downloads) {
          const path = join(env.tmp, 'all', d.suggestedFilename());
          await d.saveAs(path);
          sameBytes(path, join(env.tmp, 'sharded', d.suggestedFilename()), `Save all: ${d.suggestedFilename()}`);
        }
        const log = await hubLog();
        assert(!log.some((e) => e.has_authorization), 'an Authorization header was sent without a token');
        assert(page.problems.length === 0, page.problems.join(' | '));
        const sizes = r.slice(0, 3).map((x) => x.text[1]).join(', ');
        return `3 shards (${sizes}; params ${r.slice(0, 3).map((x) => Object.values(x.params)[0]).join(' / ')}), listing read ${peekBytes} header bytes; ` +
          'each .stz decompresses (CLI) to the original and equals the CLI\'s .stz; rewritten index names the .stz files; Save all gives the same 4 files';
      } finally { await context.close(); }
    },

    async 'Hub: gated repo asks for a token; with it, the token reaches only the Hub origin'() {
      ensureCli();
      await start();
      await resetLog();
      const { context, page } = await openHubPage(getBrowser());
      try {
        assert(await list(page, 'test/gated') === 'error', 'a gated repo was listed without a token');
        const msg = (await page.textContent('#error')).trim();
        assert(/gated or private/i.test(msg) && /token/i.test(msg), `message: ${msg}`);
        // A wrong token is refused with its own message.
        assert(await list(page, 'test/gated', 'hf_wrong') === 'error', 'a wrong token was accepted');
        const msg2 = (await page.textContent('#error')).trim();
        assert(/token was refused/i.test(msg2), `wrong-token message: ${msg2}`);
        // A shard index naming '../x.safetensors' is refused before anything is downloaded.
        await resetLog();
        assert(await list(page, 'test/evil') === 'error', 'an index with a bad shard name was accepted');
        const msg4 = (await page.textContent('#error')).trim();
        assert(msg4.includes('../x.safetensors') && /\.\./.test(msg4), `bad-shard message: ${msg4}`);
        assert(!(await hubLog()).some((e) => e.origin === 'cdn'), 'the CDN was contacted for a repo with a bad index');
        // 404s say what was not found.
        assert(await list(page, 'test/nope') === 'error', 'a missing repo was listed');
        const msg3 = (await page.textContent('#error')).trim();
        assert(/test\/nope was not found/.test(msg3), `404 message: ${msg3}`);

        await resetLog();
        assert(await list(page, 'test/gated', TOKEN) === 'listed', `listing with the token failed: ${await page.textContent('#error')}`);
        const facts = headerFacts(join(env.repos, 'test', 'gated', 'model.safetensors'));
        checkFacts((await rows(page))[0], facts, 'gated model.safetensors');
        await compressAll(page);
        checkStz(await saveOne(page, 'model.safetensors.stz', 'gated'), join(env.repos, 'test', 'gated', 'model.safetensors'), 'gated');
        const log = await hubLog();
        const withAuth = log.filter((e) => e.has_authorization);
        const cdn = log.filter((e) => e.origin === 'cdn');
        assert(withAuth.length > 0, 'the token was never sent');
        assert(withAuth.every((e) => e.origin === 'hub' && e.authorization === `Bearer ${TOKEN}`), 'the token went elsewhere than the Hub origin');
        assert(cdn.length > 0 && cdn.every((e) => !e.has_authorization), 'the CDN saw an Authorization header');
        assert(cdn.some((e) => e.method === 'GET' && e.status === 200), 'the file was not streamed from the CDN');
        assert(!page.consoleText.some((t) => t.includes(TOKEN)), 'the token appeared in the console');
        assert(page.problems.length === 0, page.problems.join(' | '));
        return `no token: "${msg}"; bad shard: "${msg4}"; 404: "${msg3}"; with the token: ${withAuth.length} Hub requests carried it, ` +
          `${cdn.length} CDN requests did not; restored exactly`;
      } finally { await context.close(); }
    },

    async 'Hub: dropped connections resume (Range + If-Range) within budget'() {
      ensureCli();
      await start();
      await resetLog();
      const { context, page } = await openHubPage(getBrowser());
      try {
        const original = join(env.repos, 'test', 'flaky', 'model.safetensors');
        const size = statSync(original).size;
        // Listed through the API only (no header peek), so both of the mock's cuts fall on the download.
        const r = await page.evaluate(() => window.stzipDebug.hubCompress({ repo: 'test/flaky' }));
        assert(r.state === 'done', `ended ${r.state}: ${r.error}`);
        checkStz(await saveOne(page, 'model.safetensors.stz', 'flaky'), original, 'flaky');
        const gets = (await hubLog()).filter((e) => e.origin === 'cdn' && e.method === 'GET');
        // The stream: the GETs that are not header peeks (no range, or an open-ended resume).
        const stream = gets.filter((e) => !e.range || /^bytes=\d+-$/.test(e.range));
        const drops = stream.filter((e) => e.cut).length;
        const bytes = stream.reduce((a, e) => a + e.bytes, 0);
        const resumes = stream.filter((e) => e.range);
        assert(drops === 2, `expected the mock's 2 cuts, saw ${drops} (${JSON.stringify(stream)})`);
        assert(resumes.length >= drops && resumes.every((e) => e.if_range && e.status === 206), `resumes: ${JSON.stringify(resumes)}`);
        assert(bytes <= size + 2 * CHUNK * drops, `the CDN sent ${bytes} bytes for a ${size}-byte file with ${drops} drops`);
        assert(page.problems.length === 0, page.problems.join(' | '));
        const fetchStats = await page.evaluate(() => window.stzipDebug.hubFetch);
        return `${drops} drop(s), ${resumes.length} resume(s) with If-Range; ` +
          `CDN sent ${bytes} bytes for the ${size}-byte file (budget ${size + 2 * CHUNK * drops}); page counted ${JSON.stringify(fetchStats)}; restored exactly`;
      } finally { await context.close(); }
    },

    async 'Hub: lossy (two passes = two fetches, the second a Range + If-Range)'() {
      ensureCli();
      await start();
      await resetLog();
      const { context, page } = await openHubPage(getBrowser());
      try {
        const original = join(env.repos, 'test', 'tiny', 'model.safetensors');
        await page.getByLabel('Mode').selectOption('bpw');
        await page.getByLabel('Bits per weight').fill('4.5');
        // A model URL works as well as a repo id.
        assert(await list(page, `https://huggingface.co/test/tiny/tree/main`) === 'listed', `listing failed: ${await page.textContent('#error')}`);
        await resetLog();
        await compressAll(page);
        const stz = await saveOne(page, 'model.safetensors.stz', 'tiny-lossy');
        const ref = stz.replace(/\.stz$/, '.cli.stz');
        cli(['compress', '--force', '-q', '--bits-per-weight', '4.5', original, '-o', ref]);
        sameBytes(stz, ref, 'lossy .stz from the Hub vs the CLI on the file');
        const gets = (await hubLog()).filter((e) => e.origin === 'cdn' && e.method === 'GET');
        assert(gets.length === 2 && !gets[0].range && /^bytes=\d+-$/.test(gets[1].range ?? '') && gets[1].if_range && gets[1].status === 206,
          `CDN requests: ${JSON.stringify(gets.map((e) => [e.status, e.range, e.if_range]))}`);
        assert(page.problems.length === 0, page.problems.join(' | '));
        return `4.5 bpw .stz identical to the CLI's; pass 2 fetched with ${gets[1].range} + If-Range`;
      } finally { await context.close(); }
    },

    async 'Hub: Cancel mid-download stops it for good'() {
      // A fresh mock (its Nth-request faults unspent) on the same repos: test/expiring stalls 1 s mid-file.
      const info = await startMockHub(['--max-seconds', '300', '--repos', (await start()).repos]);
      const { mock } = info;
      const server = await startServer(['--connect', `${info.hub},${info.cdn}`]);
      const context = await getBrowser().newContext({ acceptDownloads: true });
      try {
        const page = await context.newPage();
        const problems = [];
        page.on('pageerror', (e) => problems.push(e.message));
        await page.goto(`${server.url}?nosw&hub=${encodeURIComponent(info.hub)}`);
        await page.waitForFunction(() => document.getElementById('build').dataset.build);
        const picker = page.getByLabel('Choose where to save before starting');
        if (await picker.isVisible()) await picker.uncheck();
        const run = page.evaluate(() => window.stzipDebug.hubCompress({ repo: 'test/expiring' }));
        await page.waitForFunction(() => document.getElementById('read-bar').value > 0.2, null, { timeout: 30_000 });
        const t = Date.now();
        await page.getByRole('button', { name: 'Cancel' }).click();
        await page.waitForFunction(() => document.getElementById('status').dataset.state === 'cancelled', null, { timeout: 5_000 });
        const ms = Date.now() - t;
        const r = await run;
        assert(r.state === 'cancelled', `state ${r.state}`);
        await page.waitForTimeout(1500); // past the mock's pause: a live download would resume now
        const log = await (await fetch(`${info.hub}/__log`)).json();
        const cdn = log.filter((e) => e.origin === 'cdn');
        assert(cdn.length === 1, `the download went on after Cancel: ${JSON.stringify(cdn.map((e) => [e.status, e.range]))}`);
        assert(await page.getByRole('button', { name: 'Compress all' }).isEnabled(), 'Compress all not enabled after cancel');
        assert(await page.getByRole('button', { name: 'Save model.safetensors.stz' }).count() === 0, 'an output was offered after cancel');
        assert(problems.length === 0, problems.join(' | '));
        return `cancelled in ${ms} ms during a stalled download; no request after it (${cdn.length} CDN GET in all)`;
      } finally {
        await context.close();
        await server.stop();
        mock.stdin.end();
        mock.kill('SIGTERM');
      }
    },

    async 'Hub: an expired signed URL is resolved again on resume'() {
      ensureCli();
      await start();
      await resetLog();
      const { context, page } = await openHubPage(getBrowser());
      try {
        const original = join(env.repos, 'test', 'expiring', 'model.safetensors');
        const r = await page.evaluate(() => window.stzipDebug.hubCompress({ repo: 'test/expiring' }));
        assert(r.state === 'done', `ended ${r.state}: ${r.error}`);
        checkStz(await saveOne(page, 'model.safetensors.stz', 'expiring'), original, 'expiring');
        const log = (await hubLog()).filter((e) => e.method === 'GET' && (e.origin === 'cdn' || e.path.includes('/resolve/')));
        const seq = log.map((e) => `${e.origin}:${e.status}${e.range ? `(${e.range})` : ''}${e.cut ? ' cut' : ''}`);
        const expired = log.findIndex((e) => e.origin === 'cdn' && e.status === 403);
        assert(log.some((e) => e.cut), `no cut: ${seq}`);
        assert(expired > 0, `the expired signed URL was not tried: ${seq}`);
        const again = log.slice(expired + 1);
        assert(again[0]?.origin === 'hub' && again[0].range && again[0].if_range, `no re-resolve with Range + If-Range after the 403: ${seq}`);
        assert(again.some((e) => e.origin === 'cdn' && e.status === 206), `no resumed 206 from the CDN: ${seq}`);
        assert(page.problems.length === 0, page.problems.join(' | '));
        return `${seq.join(' → ')}; restored exactly`;
      } finally { await context.close(); }
    },
  };
}
