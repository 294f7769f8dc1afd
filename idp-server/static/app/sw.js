// Service worker of the Sésame app (scope /app/): keeps the app shell
// available offline, and shows the Web Push notifications. It caches only the
// files listed below and never touches anything else: the device API
// (/api/…), discovery and the login pages always go to the network, unseen by
// this worker.
//
// A push message (decrypted by the browser) is JSON, `PushMessage` in
// /api/device/v1/openapi.yaml: `login` (challenge id, partner, expiry: never
// the number to match nor anything secret), `login_ended`, or `alert`.
// Tapping a login notification opens the app, which fetches the request over
// the signed API and shows its approval screen.
const CACHE = 'sesame-app-v5';
const ROOT = new URL('./', self.location.href).pathname; // "/app/" (or "<prefix>/app/"), the start_url
const SHELL = [ROOT, `${ROOT}app.js`, `${ROOT}i18n.js`, `${ROOT}app.css`, `${ROOT}manifest.webmanifest`, `${ROOT}icon.svg`];

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

// ------------------------------------------------------------------ Web Push

const LOGIN_TAG = 'sesame-login';
const ALERTS = {
  device_activated: ['Nouvel appareil activé', 'L\'application Sésame vient d\'être activée sur un appareil. Si ce n\'était pas vous, changez votre mot de passe et contactez le support.'],
  device_locked: ['Application bloquée', 'Trois codes secrets erronés ont été saisis : l\'application est bloquée. Demandez un nouveau code d\'activation pour la débloquer.'],
  device_locked_numbers: ['Application bloquée', 'Trois erreurs de nombre à la suite (le nombre choisi n\'était pas celui affiché) : l\'application est bloquée. Demandez un nouveau code d\'activation pour la débloquer.'],
  fraud_reported: ['Connexion signalée', 'Une demande de connexion a été signalée comme frauduleuse (« Ce n\'est pas moi »). Elle a été refusée.'],
  identity_blocked: ['Identité bloquée', 'Votre identité numérique Sésame a été bloquée : vos appareils ont été révoqués et vos connexions fermées.'],
};
// In English when the phone's first French-or-English language is English
// (as the app, i18n.js).
const firstLang = (self.navigator?.languages?.length ? [...self.navigator.languages] : [self.navigator?.language || 'fr'])
  .map((l) => String(l).toLowerCase())
  .find((l) => l.startsWith('fr') || l.startsWith('en'));
const ENGLISH = Boolean(firstLang && firstLang.startsWith('en'));
const ALERTS_EN = {
  device_activated: ['New device activated', 'The Sésame app has just been activated on a device. If this was not you, change your password and contact support.'],
  device_locked: ['App locked', 'Three wrong secret codes were typed: the app is locked. Request a new activation code to unlock it.'],
  device_locked_numbers: ['App locked', 'Three wrong numbers in a row (the number chosen was not the one shown): the app is locked. Request a new activation code to unlock it.'],
  fraud_reported: ['Login reported', 'A login request was reported as fraudulent ("This is not me"). It was refused.'],
  identity_blocked: ['Identity blocked', 'Your Sésame digital identity has been blocked: your devices have been revoked and your sessions closed.'],
};
// French typography: no-break spaces before « : ; ? ! » and inside guillemets.
const fr = (text) => (ENGLISH ? String(text) : String(text).replace(/ ([:;?!»])/g, '\u00a0$1').replace(/« /g, '«\u00a0'));
const LANG = ENGLISH ? 'en' : 'fr';

async function tellClients(message) {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  for (const client of windows) client.postMessage(message);
}

async function onPush(message) {
  const now = Math.floor(Date.now() / 1000);
  if (message.type === 'login' && typeof message.challenge === 'string') {
    if (Number.isFinite(message.expires_at) && message.expires_at <= now) return;
    const partner = typeof message.partner === 'string' && message.partner ? message.partner : (ENGLISH ? 'A partner site' : 'Un site partenaire');
    await self.registration.showNotification(ENGLISH ? 'Login request' : 'Demande de connexion', {
      body: ENGLISH
        ? `${partner} wants to verify your identity. Open Sésame: choose the 2-digit number shown on your screen, then type your secret code.`
        : fr(`${partner} souhaite vérifier votre identité. Ouvrez Sésame : choisissez le nombre à 2 chiffres affiché sur votre écran, puis saisissez votre code secret.`),
      tag: LOGIN_TAG,
      renotify: true,
      requireInteraction: true,
      lang: LANG,
      icon: `${ROOT}icon.svg`,
      data: { challenge: message.challenge, expires_at: message.expires_at },
    });
    await tellClients({ type: 'login', challenge: message.challenge });
  } else if (message.type === 'login_ended' && typeof message.challenge === 'string') {
    const shown = await self.registration.getNotifications({ tag: LOGIN_TAG });
    for (const n of shown) if (n.data?.challenge === message.challenge) n.close();
    await tellClients({ type: 'login-ended', challenge: message.challenge });
  } else if (message.type === 'alert' && ALERTS[message.alert]) {
    const [title, body] = (ENGLISH ? ALERTS_EN : ALERTS)[message.alert];
    await self.registration.showNotification(title, {
      body: fr(body),
      tag: `sesame-alert-${message.alert}`,
      lang: LANG,
      icon: `${ROOT}icon.svg`,
      data: { alert: message.alert },
    });
  }
}

self.addEventListener('push', (event) => {
  let message = null;
  try {
    message = event.data ? event.data.json() : null;
  } catch {
    message = null;
  }
  if (message && typeof message === 'object') event.waitUntil(onPush(message));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const challenge = event.notification.data?.challenge;
  const target = challenge ? `${ROOT}#demande=${encodeURIComponent(challenge)}` : ROOT;
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const open = windows.find((c) => new URL(c.url).pathname.startsWith(ROOT));
      if (open) {
        open.postMessage({ type: 'open-challenge', challenge });
        return open.focus();
      }
      return self.clients.openWindow(target);
    })(),
  );
});

// The browser replaced or dropped the subscription: an open app renews it
// (signed, which only the page can do); otherwise the app renews at its next start.
self.addEventListener('pushsubscriptionchange', (event) => {
  event.waitUntil(tellClients({ type: 'push-renew' }));
});
