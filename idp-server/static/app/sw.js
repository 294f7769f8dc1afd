// Service worker of the Sésame app (scope /app/): keeps the app shell
// available offline. It caches only the files listed below and never touches
// anything else: the device API (/api/…), discovery and the login pages always
// go to the network, unseen by this worker.
const CACHE = 'sesame-app-v1';
const ROOT = new URL('./', self.location.href).pathname; // "/app/" (or "<prefix>/app/"), the start_url
const SHELL = [ROOT, `${ROOT}app.js`, `${ROOT}app.css`, `${ROOT}manifest.webmanifest`, `${ROOT}icon.svg`];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: 'no-store' }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('sesame-app-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

// Network first (a new version is used at once), the cache when offline.
self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.search) return;
  // "/app" (outside the scope, so only seen from pages under /app/) is the same page as "/app/".
  const path = url.pathname === ROOT.replace(/\/$/, '') ? ROOT : url.pathname;
  if (!SHELL.includes(path)) return;
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok && response.type === 'basic') {
          const copy = response.clone();
          event.waitUntil(caches.open(CACHE).then((cache) => cache.put(path, copy)));
        }
        return response;
      })
      .catch(() => caches.match(path).then((cached) => cached || Response.error())),
  );
});
