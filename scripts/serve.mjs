#!/usr/bin/env node
// Dependency-free static server for www/ (development, tests, benchmark).
// Usage: node scripts/serve.mjs [port] [--connect ORIGIN,ORIGIN…]
//   (or PORT=…; 0 picks a free port). --connect (or STZIP_CONNECT) adds
//   origins to the CSP's connect-src, e.g. a mock Hub and its CDN for tests;
//   they go into both the CSP header and the page's CSP meta tag (rewritten
//   on the fly), since browsers enforce both.
// Sends the page's CSP, cross-origin isolation headers (COOP/COEP, so
// performance.measureUserAgentSpecificMemory() is available) and refuses any
// path that would leave www/.
import { createServer } from 'node:http';
import { createReadStream, promises as fs } from 'node:fs';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

// STZIP_WWW overrides the directory served (e.g. a copy of www/ for experiments).
const ROOT = resolve(process.env.STZIP_WWW || join(dirname(fileURLToPath(import.meta.url)), '..', 'www'));
const argv = process.argv.slice(2);
const connectAt = argv.indexOf('--connect');
const connectArg = connectAt >= 0 ? argv.splice(connectAt, 2)[1] ?? '' : process.env.STZIP_CONNECT ?? '';
const PORT = Number(argv[0] ?? process.env.PORT ?? 8000);
const HOST = '127.0.0.1';

// The Hub origin and its CDN and Xet storage hosts (also in www/index.html's
// meta tag). Wildcards, because the Hub adds regional hosts over time
// (its list: https://huggingface.co/.well-known/meta.json).
const HUB_HOSTS = ['https://huggingface.co', 'https://*.huggingface.co', 'https://*.hf.co'];
// Extra origins: each must be a bare http(s) origin (nothing that could smuggle in another directive).
const EXTRA = connectArg.split(/[,\s]+/).filter(Boolean).map((o) => {
  let u;
  try { u = new URL(o); } catch { u = null; }
  if (!/^https?:\/\/[A-Za-z0-9.\-[\]:]+\/?$/.test(o) || !u || u.origin !== o.replace(/\/$/, '')) {
    console.error(`serve.mjs: --connect wants origins like http://127.0.0.1:1234, not ${JSON.stringify(o)}`);
    process.exit(2);
  }
  return u.origin;
});
const CONNECT = ["'self'", ...HUB_HOSTS, ...EXTRA.filter((o) => !HUB_HOSTS.includes(o))].join(' ');

const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; " +
  `style-src 'self'; img-src 'self' data: blob:; connect-src ${CONNECT}; object-src 'none'; base-uri 'none'`;

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
  '.stz': 'application/octet-stream',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

const SECURITY_HEADERS = {
  'Content-Security-Policy': CSP,
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

function send(res, status, text, extra = {}) {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', ...extra });
  res.end(text);
}

// Map a URL path to a file inside ROOT, or null when it is not allowed.
async function resolvePath(urlPath) {
  let p;
  try { p = decodeURIComponent(urlPath); } catch { return null; }
  if (p.includes('\0') || p.includes('\\')) return null;
  const segments = p.split('/');
  // No '..' and no dotfiles (covers '.', '..', '.git', …).
  if (segments.some((s) => s.startsWith('.'))) return null;
  if (p.endsWith('/')) p += 'index.html';
  const full = resolve(ROOT, '.' + p);
  if (full !== ROOT && !full.startsWith(ROOT + sep)) return null;
  // Symlinks must not lead out of ROOT either.
  let real;
  try { real = await fs.realpath(full); } catch { return undefined; }
  const realRoot = await fs.realpath(ROOT);
  if (!real.startsWith(realRoot + sep)) return null;
  return real;
}

const server = createServer(async (req, res) => {
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
  const { pathname } = new URL(req.url, 'http://localhost');
  const file = await resolvePath(pathname);
  if (file === null) return send(res, 403, 'forbidden\n');
  let st;
  try { st = file && (await fs.stat(file)); } catch { st = null; }
  if (!st || !st.isFile()) return send(res, 404, 'not found\n');

  // Revalidate every time (no stale files during development and tests).
  const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}${EXTRA.length ? `-c${EXTRA.length}` : ''}"`;
  const headers = {
    ...SECURITY_HEADERS,
    'Content-Type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Cache-Control': 'no-cache',
    ETag: etag,
  };
  if (req.headers['if-none-match'] === etag) { res.writeHead(304, headers); return res.end(); }
  if (EXTRA.length && extname(file).toLowerCase() === '.html') {
    // The meta tag must allow the extra origins too: rewrite its connect-src.
    const html = (await fs.readFile(file, 'utf8'))
      .replace(/(<meta http-equiv="Content-Security-Policy" content="[^"]*connect-src )([^;"]*)/, `$1${CONNECT}`);
    const body = Buffer.from(html);
    res.writeHead(200, { ...headers, 'Content-Length': body.length });
    return res.end(req.method === 'HEAD' ? undefined : body);
  }
  res.writeHead(200, { ...headers, 'Content-Length': st.size });
  if (req.method === 'HEAD') return res.end();
  createReadStream(file).on('error', () => res.destroy()).pipe(res);
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  console.log(`stzip page: http://${HOST}:${port}/`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
