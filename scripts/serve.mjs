#!/usr/bin/env node
// Dependency-free static server for www/ (development, tests, benchmark).
// Usage: node scripts/serve.mjs [port]   (or PORT=…; 0 picks a free port)
// Sends the page's CSP, cross-origin isolation headers (COOP/COEP, so
// performance.measureUserAgentSpecificMemory() is available) and refuses any
// path that would leave www/.
import { createServer } from 'node:http';
import { createReadStream, promises as fs } from 'node:fs';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

// STZIP_WWW overrides the directory served (e.g. a copy of www/ for experiments).
const ROOT = resolve(process.env.STZIP_WWW || join(dirname(fileURLToPath(import.meta.url)), '..', 'www'));
const PORT = Number(process.argv[2] ?? process.env.PORT ?? 8000);
const HOST = '127.0.0.1';

const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; " +
  "style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'";

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
  const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  const headers = {
    ...SECURITY_HEADERS,
    'Content-Type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Cache-Control': 'no-cache',
    ETag: etag,
  };
  if (req.headers['if-none-match'] === etag) { res.writeHead(304, headers); return res.end(); }
  res.writeHead(200, { ...headers, 'Content-Length': st.size });
  if (req.method === 'HEAD') return res.end();
  createReadStream(file).on('error', () => res.destroy()).pipe(res);
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  console.log(`stzip page: http://${HOST}:${port}/`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
