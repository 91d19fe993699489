// Service worker: lets the page work offline once it has been loaded.
// Network-first: while online every request goes to the server (so a changed
// file is never served stale); the cache is only the fallback when offline.
const CACHE = 'stzip-v1';
const FILES = [
  './', 'index.html', 'style.css', 'app.js', 'report.js', 'wasm-loader.js', 'coordinator.js', 'codec-worker.js', 'hub.js',
  'pkg/simd/stzip.js', 'pkg/simd/stzip_bg.wasm', 'pkg/scalar/stzip.js', 'pkg/scalar/stzip_bg.wasm',
  'demo.safetensors',
];

self.addEventListener('install', (event) => {
  // One missing file (e.g. a build not made yet) must not block the others.
  event.waitUntil(caches.open(CACHE).then((c) => Promise.allSettled(FILES.map((f) => c.add(f)))).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const k of await caches.keys()) if (k !== CACHE) await caches.delete(k);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET' || new URL(req.url).origin !== location.origin || req.headers.has('range')) return;
  event.respondWith((async () => {
    try {
      const res = await fetch(req);
      if (res.ok && res.type === 'basic') {
        const copy = res.clone();
        event.waitUntil(caches.open(CACHE).then((c) => c.put(req, copy)));
      }
      return res;
    } catch (e) {
      const hit = await caches.match(req, { ignoreSearch: true });
      if (hit) return hit;
      throw e;
    }
  })());
});
