// Application Sésame (/app): approves logins from this phone.
//
// - Activation: email + password + activation code + a new PIN. A P-256 key
//   pair is generated here with WebCrypto; its private key is NOT extractable
//   and never leaves the browser (IndexedDB keeps the CryptoKey objects).
// - Every later request is signed with that key (Authorization: Device <JWS>,
//   see /api/device/v1/openapi.yaml): htu is built from the discovery
//   `issuer`, iat is the server's time (corrected with its Date header),
//   jti is fresh.
// - Challenges arrive by server-sent events read through fetch() (EventSource
//   cannot send headers), with long-polling as the fallback.
// - Notifications (Web Push): offered after activation, with an explanation;
//   the service worker (sw.js) shows them, and tapping one opens the app on
//   the request. Without them the app works as before (keep it open).
// No build step, no dependencies: plain ES2020 in one module.

import { LANG, LOCALE, applyLanguage, english } from './i18n.js';

const API = '/api/device/v1';
// Path prefix of the provider when it is not at the root (the app is <prefix>/app).
const BASE = location.pathname.replace(/\/app(?:\/.*)?$/, '');

const $ = (id) => document.getElementById(id);

const state = {
  issuer: null, // discovery `issuer`, without a trailing slash
  apiPrefix: '', // path of the issuer (fetch URLs stay same-origin)
  clockOffset: 0, // server time − local time, in ms
  device: null, // { device_id, name, keyPair, email }
  listener: null,
  challenge: null, // the challenge on screen
  decided: new Set(), // challenge ids answered (or given up) here
  selectedNumber: null,
  busy: false,
  countdown: null,
  screen: 'loading',
};

// ------------------------------------------------------------------ helpers

const encoder = new TextEncoder();

function b64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
const b64urlJson = (value) => b64url(encoder.encode(JSON.stringify(value)));

/** Compact JWS, ES256: WebCrypto's ECDSA signature is already r‖s (64 bytes). */
async function signJws(header, payload, privateKey) {
  const input = `${b64urlJson(header)}.${b64urlJson(payload)}`;
  const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, encoder.encode(input));
  return `${input}.${b64url(new Uint8Array(signature))}`;
}

/** Current server time, unix seconds. */
const serverNow = () => Math.floor((Date.now() + state.clockOffset) / 1000);

/**
 * Learns the server's clock from a response's Date header. `first`: adopt any
 * offset above 5 s; otherwise only a drift above 30 s (returns true then, so a
 * refused request can be signed again).
 */
function syncClock(res, first = false) {
  const date = Date.parse(res.headers.get('date') || '');
  if (Number.isNaN(date)) return false;
  const offset = date - Date.now();
  if (first ? Math.abs(offset) > 5000 : Math.abs(offset - state.clockOffset) > 30000) {
    state.clockOffset = offset;
    return true;
  }
  return false;
}

const plural = (n, one, many) => `${n} ${n > 1 ? many : one}`;

/** French typography: no-break spaces before « : ; ? ! » and inside guillemets. */
const fr = (text) => String(text).replace(/ ([:;?!»])/g, '\u00a0$1').replace(/« /g, '«\u00a0');

function formatDelay(seconds) {
  const s = Math.max(1, Math.round(Number(seconds) || 60));
  if (s < 60) return plural(s, 'seconde', 'secondes');
  return plural(Math.ceil(s / 60), 'minute', 'minutes');
}

const timeFormat = new Intl.DateTimeFormat(LOCALE, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTimeFormat = new Intl.DateTimeFormat(LOCALE, { day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit' });

function formatWhen(unix) {
  const d = new Date(unix * 1000);
  const today = new Date().toDateString() === d.toDateString();
  return today ? `aujourd'hui à ${timeFormat.format(d)}` : dateTimeFormat.format(d);
}

/** "Chrome sur Linux" from a user agent (the full string stays available). */
function describeBrowser(ua) {
  if (!ua) return 'Navigateur inconnu';
  const browsers = [
    [/Edg(?:e|A|iOS)?\//, 'Edge'],
    [/OPR\/|Opera/, 'Opera'],
    [/SamsungBrowser\//, 'Samsung Internet'],
    [/Firefox\/|FxiOS\//, 'Firefox'],
    [/Chrome\/|CriOS\/|Chromium\//, 'Chrome'],
    [/Safari\//, 'Safari'],
  ];
  const systems = [
    [/Windows/, 'Windows'],
    [/Android/, 'Android'],
    [/iPhone|iPad|iPod/, 'iOS'],
    [/CrOS/, 'ChromeOS'],
    [/Mac OS X|Macintosh/, 'macOS'],
    [/Linux/, 'Linux'],
  ];
  const browser = browsers.find(([re]) => re.test(ua))?.[1];
  const system = systems.find(([re]) => re.test(ua))?.[1];
  if (browser && system) return `${browser} sur ${system}`;
  return browser || system || 'Navigateur inconnu';
}

// ------------------------------------------------------------------ storage (IndexedDB)

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open('sesame-app', 1);
    req.onupgradeneeded = () => req.result.createObjectStore('state');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function store(mode, action) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction('state', mode);
      const req = action(tx.objectStore('state'));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}
const loadDevice = () => store('readonly', (s) => s.get('device'));
const saveDevice = (device) => store('readwrite', (s) => s.put(device, 'device'));
const eraseDevice = () => store('readwrite', (s) => s.delete('device'));

// ------------------------------------------------------------------ API

class ApiError extends Error {
  constructor(status, body, res) {
    super(body.error_description || body.error);
    this.status = status;
    this.code = body.error;
    this.body = body;
    this.retryAfter = res?.headers.get('retry-after');
  }
}

async function apiError(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON (a proxy's page, an empty body)
  }
  if (!body || typeof body !== 'object') body = {};
  if (!body.error) body.error = `http_${res.status}`;
  return new ApiError(res.status, body, res);
}

/** The device's state ended its use: revoked, locked, or not recognised. */
const isDeviceStateError = (e) =>
  e instanceof ApiError && ['device_revoked', 'device_locked', 'invalid_device_request'].includes(e.code);

async function discover() {
  if (state.issuer) return state.issuer;
  const res = await fetch(`${BASE}/.well-known/openid-configuration`, { cache: 'no-store' });
  if (!res.ok) throw new Error(`discovery: HTTP ${res.status}`);
  syncClock(res, true);
  const doc = await res.json();
  if (typeof doc.issuer !== 'string') throw new Error('discovery: no issuer');
  state.issuer = doc.issuer.replace(/\/+$/, '');
  state.apiPrefix = new URL(state.issuer).pathname.replace(/\/+$/, '');
  return state.issuer;
}

/** Unsigned JSON POST (activation). */
async function postJson(path, body) {
  await discover();
  return fetch(state.apiPrefix + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
    cache: 'no-store',
  });
}

/** A request signed by the device key. `path` has no query; `query` is added to the URL only. */
async function signedFetch(method, path, { query = '', body, signal, accept = 'application/json', again = false } = {}) {
  const issuer = await discover();
  const device = state.device;
  if (!device) throw new Error('no device');
  const token = await signJws(
    { alg: 'ES256', kid: device.device_id, typ: 'device-request+jwt' },
    { htm: method, htu: issuer + path, iat: serverNow(), jti: crypto.randomUUID() },
    device.keyPair.privateKey,
  );
  const headers = { Authorization: `Device ${token}`, Accept: accept };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(state.apiPrefix + path + query, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    cache: 'no-store',
  });
  // A phone whose clock is wrong: sign again once with the server's time.
  if (res.status === 401 && !again && syncClock(res)) {
    return signedFetch(method, path, { query, body, signal, accept, again: true });
  }
  return res;
}

/** Sends a decision (a JWS as the body, no Authorization header). */
async function sendDecision(challenge, action, pin, number, again = false) {
  const issuer = await discover();
  const path = `${API}/challenges/${encodeURIComponent(challenge.id)}/decision`;
  const payload = {
    htm: 'POST',
    htu: issuer + path,
    iat: serverNow(),
    jti: crypto.randomUUID(),
    challenge_id: challenge.id,
    nonce: challenge.nonce,
    action,
  };
  if (action === 'approve') Object.assign(payload, { pin, number });
  const jws = await signJws(
    { alg: 'ES256', kid: state.device.device_id, typ: 'device-decision+jwt' },
    payload,
    state.device.keyPair.privateKey,
  );
  const res = await fetch(state.apiPrefix + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/jose', Accept: 'application/json' },
    body: jws,
    cache: 'no-store',
  });
  if (res.status === 401 && !again && syncClock(res)) return sendDecision(challenge, action, pin, number, true);
  return res;
}

// ------------------------------------------------------------------ screens

const TITLES = {
  loading: 'Application Sésame',
  unsupported: 'Navigateur non compatible — Sésame',
  activation: 'Activer l\'application — Sésame',
  newcode: 'Nouveau code d\'activation — Sésame',
  waiting: 'En attente — Sésame',
  challenge: 'Demande de connexion — Sésame',
  result: 'Sésame',
  locked: 'Appareil verrouillé — Sésame',
  problem: 'Appareil non reconnu — Sésame',
  devices: 'Mes appareils — Sésame',
  history: 'Mes connexions — Sésame',
};

function show(name, { focus } = {}) {
  for (const section of document.querySelectorAll('[data-screen]')) section.hidden = section.dataset.screen !== name;
  state.screen = name;
  document.title = TITLES[name] || 'Sésame';
  $('nav-devices').hidden = !(state.device && ['waiting', 'result'].includes(name));
  if (name !== 'challenge') stopCountdown();
  const target = focus || document.querySelector(`[data-screen="${name}"] h1`);
  target?.focus();
  window.scrollTo(0, 0);
}

function setAlert(el, message, { action } = {}) {
  el.replaceChildren();
  if (!message) {
    el.hidden = true;
    return;
  }
  el.append(document.createTextNode(fr(message)));
  if (action) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary';
    button.textContent = action.label;
    if (action.testid) button.dataset.testid = action.testid;
    button.addEventListener('click', action.run);
    el.append(button);
  }
  el.hidden = false;
}

function setNotice(el, message) {
  el.textContent = message ? fr(message) : '';
  el.hidden = !message;
}

function markInvalid(form, inputs) {
  for (const input of form.querySelectorAll('input')) input.removeAttribute('aria-invalid');
  for (const input of inputs) input.setAttribute('aria-invalid', 'true');
}

function setBusy(button, busy, label) {
  if (busy) {
    button.dataset.label = button.textContent;
    button.textContent = label;
  } else if (button.dataset.label) {
    button.textContent = button.dataset.label;
  }
  button.disabled = busy;
}

const NETWORK_ERROR = 'Impossible de joindre Sésame. Vérifiez votre connexion à Internet, puis réessayez.';

/** The message for an error with no specific wording. */
function genericError(e) {
  if (e.code === 'temporarily_unavailable' || e.status >= 500) {
    return 'Sésame est momentanément indisponible. Réessayez dans quelques instants.';
  }
  return `Une erreur est survenue (${e.code}). Réessayez plus tard.`;
}

// ------------------------------------------------------------------ (a) activation

/** A name for this device from the platform ("iPhone", "Téléphone Android
 * (Chrome)"…), prefilled on the activation form and editable there. */
function platformName(ua = navigator.userAgent || '') {
  const name = frenchPlatformName(ua);
  return LANG === 'en' ? english(name) : name;
}

function frenchPlatformName(ua) {
  const browser = describeBrowser(ua).split(' sur ')[0];
  const known = browser === 'Navigateur inconnu' ? '' : ` (${browser})`;
  if (/iPhone/.test(ua)) return `iPhone${known}`;
  if (/iPad/.test(ua)) return `iPad${known}`;
  if (/Android/.test(ua)) return /Mobile/.test(ua) ? `Téléphone Android${known}` : `Tablette Android${known}`;
  return describeBrowser(ua) === 'Navigateur inconnu' ? '' : describeBrowser(ua);
}

function showActivation({ notice, email, password } = {}) {
  if (!$('act-name').value) $('act-name').value = platformName();
  setNotice($('activation-notice'), notice);
  setAlert($('activation-error'), null);
  markInvalid($('activation-form'), []);
  if (email) $('act-email').value = email;
  if (password) $('act-password').value = password;
  show('activation');
}

function showNewCode() {
  setAlert($('newcode-error'), null);
  markInvalid($('newcode-form'), []);
  const email = $('act-email').value.trim() || state.device?.email || '';
  if (email && !$('nc-email').value) $('nc-email').value = email;
  show('newcode');
}

const newCodeAction = { label: 'Recevoir un nouveau code', testid: 'activation-error-newcode', run: () => showNewCode() };

async function activate(event) {
  event.preventDefault();
  if (state.busy) return;
  const form = $('activation-form');
  const alert = $('activation-error');
  const fields = {
    email: $('act-email'),
    password: $('act-password'),
    code: $('act-code'),
    pin: $('act-pin'),
    pin2: $('act-pin2'),
    name: $('act-name'),
  };
  const email = fields.email.value.trim();
  const password = fields.password.value;
  const code = fields.code.value.replace(/\s/g, '');
  const pin = fields.pin.value;
  const name = fields.name.value.trim();

  const fail = (message, inputs, options) => {
    markInvalid(form, inputs);
    setAlert(alert, message, options);
    (inputs[0] || alert).focus();
  };
  if (!email || !email.includes('@')) return fail('Saisissez votre adresse électronique.', [fields.email]);
  if (!password) return fail('Saisissez votre mot de passe.', [fields.password]);
  if (!/^[0-9]{6}$/.test(code)) return fail('Le code d\'activation comporte 6 chiffres.', [fields.code]);
  if (!/^[0-9]{4}$/.test(pin)) return fail('Le code secret doit comporter exactement 4 chiffres.', [fields.pin]);
  if (fields.pin2.value !== pin) return fail('Les deux codes secrets saisis sont différents.', [fields.pin2]);
  if (name.length > 64) return fail('Le nom de l\'appareil ne doit pas dépasser 64 caractères.', [fields.name]);

  state.busy = true;
  setBusy($('activation-submit'), true, 'Activation en cours…');
  try {
    // Non-extractable private key; the public key is always exportable.
    const keyPair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
    const jwk = await crypto.subtle.exportKey('jwk', keyPair.publicKey);
    const body = {
      email,
      password,
      activation_code: code,
      pin,
      public_key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
    };
    if (name) body.name = name;
    let res;
    try {
      res = await postJson(`${API}/activation`, body);
    } catch {
      return fail(NETWORK_ERROR, []);
    }
    if (res.status === 201) {
      const out = await res.json();
      const device = { device_id: out.device_id, name: out.name || name || 'Mon téléphone', keyPair, email };
      state.listener?.stop();
      await saveDevice(device);
      state.device = device;
      state.decided.clear();
      form.reset();
      markInvalid(form, []);
      setAlert(alert, null);
      showWaiting(`L'application est activée sur cet appareil (« ${device.name} »).`);
      // Offer notifications now, with the explanation (asked on the button).
      localStorage.removeItem(PUSH_CHOICE);
      setPushState(false);
      startListening();
      return;
    }
    const e = await apiError(res);
    const left = e.body.attempts_left;
    switch (e.code) {
      case 'invalid_credentials':
        fields.password.value = '';
        return fail('Adresse électronique ou mot de passe incorrect.', [fields.email, fields.password]);
      case 'invalid_activation_code':
        return fail(
          Number.isInteger(left)
            ? `Code d'activation incorrect. Il vous reste ${plural(left, 'essai', 'essais')}.`
            : 'Code d\'activation incorrect.',
          [fields.code],
        );
      case 'activation_code_void':
        return fail('Trop de codes erronés : ce code d\'activation n\'est plus valable. Demandez un nouveau code.', [fields.code], { action: newCodeAction });
      case 'activation_code_expired':
        return fail('Ce code d\'activation a expiré. Demandez un nouveau code.', [fields.code], { action: newCodeAction });
      case 'no_activation_code':
        return fail('Aucun code d\'activation n\'est en cours pour ce compte. Demandez un code.', [fields.code], { action: newCodeAction });
      case 'weak_pin':
        fields.pin.value = '';
        fields.pin2.value = '';
        return fail('Ce code secret est trop facile à deviner (comme 0000, 1111 ou 1234). Choisissez-en un autre.', [fields.pin]);
      case 'invalid_pin':
        return fail('Le code secret doit comporter exactement 4 chiffres.', [fields.pin]);
      case 'not_activatable':
        return fail(
          'Votre compte ne permet pas d\'activer l\'application : votre identité doit d\'abord être vérifiée (au guichet ou à distance), et le compte ne doit pas être suspendu.',
          [],
        );
      case 'throttled':
        return fail(`Trop de tentatives. Réessayez dans ${formatDelay(e.retryAfter)}.`, []);
      case 'invalid_request':
        return fail('Certaines informations ne sont pas valables. Vérifiez le formulaire, puis réessayez.', []);
      default:
        return fail(genericError(e), []);
    }
  } catch (err) {
    console.error(err);
    return fail('L\'activation a échoué sur cet appareil. Réessayez.', []);
  } finally {
    state.busy = false;
    setBusy($('activation-submit'), false);
  }
}

async function requestNewCode(event) {
  event.preventDefault();
  if (state.busy) return;
  const form = $('newcode-form');
  const alert = $('newcode-error');
  const emailInput = $('nc-email');
  const passwordInput = $('nc-password');
  const email = emailInput.value.trim();
  const password = passwordInput.value;
  const fail = (message, inputs) => {
    markInvalid(form, inputs);
    setAlert(alert, message);
    (inputs[0] || alert).focus();
  };
  if (!email || !email.includes('@')) return fail('Saisissez votre adresse électronique.', [emailInput]);
  if (!password) return fail('Saisissez votre mot de passe.', [passwordInput]);

  state.busy = true;
  setBusy($('newcode-submit'), true, 'Envoi en cours…');
  try {
    let res;
    try {
      res = await postJson(`${API}/activation/code`, { email, password });
    } catch {
      return fail(NETWORK_ERROR, []);
    }
    if (res.status === 202 || res.ok) {
      passwordInput.value = '';
      markInvalid(form, []);
      $('act-code').value = '';
      showActivation({
        notice: 'Un nouveau code d\'activation vous a été envoyé par SMS et par courriel. Saisissez-le ci-dessous.',
        email,
        password,
      });
      $('act-code').focus();
      return;
    }
    const e = await apiError(res);
    switch (e.code) {
      case 'invalid_credentials':
        passwordInput.value = '';
        return fail('Adresse électronique ou mot de passe incorrect.', [emailInput, passwordInput]);
      case 'not_activatable':
        return fail('Votre compte ne permet pas de recevoir un code d\'activation : votre identité doit d\'abord être vérifiée, et le compte ne doit pas être suspendu.', []);
      case 'throttled':
        return fail(`Trop de demandes. Réessayez dans ${formatDelay(e.retryAfter)}.`, []);
      default:
        return fail(genericError(e), []);
    }
  } finally {
    state.busy = false;
    setBusy($('newcode-submit'), false);
  }
}

// ------------------------------------------------------------------ (b) waiting: SSE, then long-polling

class FallbackToPolling extends Error {}

/** `mode`: how challenges arrive once connected ("sse" or "poll"). */
function setListenStatus(kind, text, mode) {
  const el = $('listen-status');
  el.dataset.state = kind;
  if (mode) el.dataset.mode = mode;
  el.textContent = fr(text);
  $('listen-retry').hidden = kind !== 'offline';
}

class Listener {
  constructor() {
    this.running = false;
    this.mode = 'sse';
    this.shortStreams = 0;
    this.delay = 0;
    this.wake = null;
    this.controller = null;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.controller = new AbortController();
    this.loop(this.controller.signal);
  }

  stop() {
    this.running = false;
    this.controller?.abort();
    this.wake?.();
  }

  /** Ends a back-off wait at once (back online, page shown again). */
  retryNow() {
    this.delay = 0;
    this.wake?.();
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  async loop(signal) {
    while (this.running && !signal.aborted) {
      try {
        if (this.mode === 'sse') await this.stream(signal);
        else await this.poll(signal);
        this.delay = 0;
      } catch (e) {
        if (!this.running || signal.aborted) return;
        if (e instanceof FallbackToPolling) {
          this.mode = 'poll';
          continue;
        }
        if (isDeviceStateError(e)) {
          this.running = false;
          onDeviceStateError(e);
          return;
        }
        this.delay = Math.min(30, Math.max(2, this.delay * 2));
        setListenStatus('offline', `Hors ligne : nouvelle tentative dans ${plural(this.delay, 'seconde', 'secondes')}.`);
        await this.sleep(this.delay * 1000);
      }
    }
  }

  /** One SSE connection, until the server closes it (300 s) or it goes silent. */
  async stream(signal) {
    setListenStatus('connecting', 'Connexion à Sésame…');
    const started = Date.now();
    const local = new AbortController();
    const abort = () => local.abort();
    signal.addEventListener('abort', abort, { once: true });
    let watchdog = null;
    try {
      const res = await signedFetch('GET', `${API}/challenges/events`, { signal: local.signal, accept: 'text/event-stream' });
      if (!res.ok) {
        const e = await apiError(res);
        if (isDeviceStateError(e)) throw e;
        if ([404, 405, 406, 501].includes(res.status)) throw new FallbackToPolling();
        throw e;
      }
      const type = res.headers.get('content-type') || '';
      if (!res.body || !type.startsWith('text/event-stream')) {
        await res.body?.cancel();
        throw new FallbackToPolling();
      }
      setListenStatus('live', 'Connecté : en attente des demandes.', 'sse');
      let last = Date.now();
      let received = false;
      // Keep-alives come every 15 s: 45 s of silence means a dead connection.
      watchdog = setInterval(() => {
        if (Date.now() - last > 45000) local.abort();
      }, 5000);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        last = Date.now();
        received = true;
        buffer = (buffer + value).replace(/\r\n/g, '\n');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          this.dispatch(block);
        }
      }
      // Closed by the server: reconnect with a fresh signature. Streams that
      // end at once, empty, again and again: something buffers; poll instead.
      if (!received && Date.now() - started < 5000) {
        this.shortStreams += 1;
        if (this.shortStreams >= 3) throw new FallbackToPolling();
        await this.sleep(1000);
      } else {
        this.shortStreams = 0;
      }
    } finally {
      clearInterval(watchdog);
      signal.removeEventListener('abort', abort);
    }
  }

  dispatch(block) {
    let event = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (event !== 'challenge' || data.length === 0) return;
    try {
      onChallenge(JSON.parse(data.join('\n')));
    } catch (e) {
      console.warn('Sésame: unreadable challenge event', e);
    }
  }

  /** One long-poll (the server answers within 25 s). */
  async poll(signal) {
    // The answer takes up to 25 s: say "connected" now, "offline" if it fails.
    if (this.delay === 0) setListenStatus('live', 'Connecté : en attente des demandes.', 'poll');
    const res = await signedFetch('GET', `${API}/challenges`, { query: '?wait=25', signal });
    if (!res.ok) throw await apiError(res);
    setListenStatus('live', 'Connecté : en attente des demandes.', 'poll');
    const body = await res.json();
    const challenges = Array.isArray(body.challenges) ? body.challenges : [];
    let fresh = false;
    for (const c of challenges) fresh = onChallenge(c) || fresh;
    // The pending challenge comes back at once while it is on screen: do not spin.
    if (challenges.length > 0 && !fresh) await this.sleep(5000);
  }
}

function startListening() {
  if (!state.device) return;
  if (!state.listener) state.listener = new Listener();
  state.listener.start();
}

function showWaiting(notice) {
  $('waiting-device-name').textContent = state.device?.name || '';
  setNotice($('waiting-notice'), notice);
  show('waiting');
}

/** The server refused this device: revoked, locked, or not recognised. */
async function onDeviceStateError(e) {
  state.listener?.stop();
  state.challenge = null;
  if (e.code === 'device_locked') {
    showLocked(e.body.lock_reason);
  } else if (e.code === 'device_revoked') {
    await forgetDevice();
    showActivation({
      notice: 'Cet appareil a été révoqué : il ne peut plus approuver de connexions. Pour l\'utiliser de nouveau, demandez un nouveau code d\'activation.',
    });
  } else {
    $('problem-text').textContent = fr(`Sésame n'a pas accepté la signature de cet appareil (${e.message}).`);
    show('problem');
  }
}

async function forgetDevice() {
  state.listener?.stop();
  state.listener = null;
  const email = state.device?.email;
  state.device = null;
  try {
    await eraseDevice();
  } catch (e) {
    console.error(e);
  }
  if (email && !$('act-email').value) $('act-email').value = email;
}

// ------------------------------------------------------------------ (c) approval

function validChallenge(c) {
  return (
    c &&
    typeof c.id === 'string' &&
    typeof c.nonce === 'string' &&
    Array.isArray(c.numbers) &&
    c.numbers.length > 0 &&
    Number.isFinite(c.expires_at)
  );
}

/** A challenge from the stream or a poll; returns true when it is new here. */
function onChallenge(c) {
  if (!validChallenge(c)) return false;
  if (state.decided.has(c.id) || state.challenge?.id === c.id) return false;
  if (c.expires_at <= serverNow()) return false;
  if (!state.device || ['activation', 'newcode', 'locked', 'problem'].includes(state.screen)) return false;
  showChallenge(c);
  return true;
}

function showChallenge(c) {
  state.challenge = c;
  state.selectedNumber = null;
  $('ch-client').textContent = c.client_name || 'Un site partenaire';
  $('ch-time').textContent = Number.isFinite(c.created_at) ? formatWhen(c.created_at) : '—';
  $('ch-ip').textContent = c.browser?.ip || 'inconnue';
  $('ch-browser').textContent = describeBrowser(c.browser?.user_agent);
  $('ch-ua').textContent = c.browser?.user_agent || '—';
  const box = $('ch-numbers');
  box.replaceChildren();
  for (const n of c.numbers) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'number';
    button.textContent = String(n);
    button.dataset.number = String(n);
    button.dataset.testid = `number-${n}`;
    button.setAttribute('aria-pressed', 'false');
    button.addEventListener('click', () => selectNumber(n));
    box.append(button);
  }
  $('pin-input').value = '';
  $('pin-input').removeAttribute('aria-invalid');
  setAlert($('challenge-error'), null);
  setChallengeDisabled(false);
  show('challenge');
  startCountdown();
}

function selectNumber(n) {
  state.selectedNumber = n;
  for (const button of $('ch-numbers').querySelectorAll('button')) {
    button.setAttribute('aria-pressed', String(button.dataset.number === String(n)));
  }
}

function startCountdown() {
  stopCountdown();
  const tick = () => {
    const c = state.challenge;
    if (!c) return stopCountdown();
    const left = c.expires_at - serverNow();
    const el = $('ch-countdown');
    if (left <= 0) {
      stopCountdown();
      if (!state.busy) finishChallenge('expired');
      return;
    }
    const min = Math.floor(left / 60);
    const sec = left % 60;
    el.textContent = `Cette demande expire dans ${min > 0 ? `${min} min ` : ''}${sec} s.`;
    el.classList.toggle('soon', left <= 20);
  };
  tick();
  state.countdown = setInterval(tick, 1000);
}

function stopCountdown() {
  clearInterval(state.countdown);
  state.countdown = null;
}

function pinKey(key) {
  const input = $('pin-input');
  if (key === 'erase') input.value = input.value.slice(0, -1);
  else if (/^[0-9]$/.test(key) && input.value.length < 4) input.value += key;
  input.removeAttribute('aria-invalid');
}

function setChallengeDisabled(disabled) {
  for (const button of document.querySelectorAll('#screen-challenge button')) button.disabled = disabled;
  $('pin-input').disabled = disabled;
}

function challengeError(message, focus) {
  setAlert($('challenge-error'), message);
  if (focus === $('pin-input')) focus.setAttribute('aria-invalid', 'true');
  (focus || $('challenge-error')).focus();
}

function confirmDialog({ title, text, yes }) {
  const dialog = $('confirm-dialog');
  $('confirm-title').textContent = fr(title);
  $('confirm-text').textContent = fr(text);
  $('confirm-yes').textContent = fr(yes);
  const opener = document.activeElement;
  return new Promise((resolve) => {
    const done = (answer) => {
      $('confirm-yes').onclick = null;
      $('confirm-no').onclick = null;
      dialog.oncancel = null;
      dialog.close();
      opener?.focus?.();
      resolve(answer);
    };
    $('confirm-yes').onclick = () => done(true);
    $('confirm-no').onclick = () => done(false);
    dialog.oncancel = (event) => {
      event.preventDefault();
      done(false);
    };
    dialog.showModal();
    // A destructive choice: the safe answer has the focus.
    $('confirm-no').focus();
  });
}

async function decide(action) {
  const c = state.challenge;
  if (state.busy || !c) return;
  setAlert($('challenge-error'), null);
  let pin;
  let number;
  if (action === 'approve') {
    number = state.selectedNumber;
    pin = $('pin-input').value;
    if (number === null) {
      return challengeError('Choisissez d\'abord le nombre affiché sur l\'écran où vous vous connectez.', $('ch-numbers').querySelector('button'));
    }
    if (!/^[0-9]{4}$/.test(pin)) return challengeError('Saisissez votre code secret à 4 chiffres.', $('pin-input'));
  }
  if (action === 'fraud') {
    const sure = await confirmDialog({
      title: 'Ce n\'est pas vous ?',
      text: `La demande de connexion à ${c.client_name || 'ce site'} sera refusée et signalée à Sésame comme une tentative de fraude. Si quelqu'un connaît votre mot de passe, changez-le ensuite.`,
      yes: 'Oui, signaler : ce n\'est pas moi',
    });
    if (!sure || state.challenge !== c) return;
  }

  state.busy = true;
  setChallengeDisabled(true);
  const button = { approve: $('ch-approve'), deny: $('ch-deny'), fraud: $('ch-fraud') }[action];
  setBusy(button, true, 'Envoi…');
  // Either an outcome (the request is over) or a problem (stay on the request).
  let outcome = null;
  let problem = null;
  try {
    let res;
    try {
      res = await sendDecision(c, action, pin, number);
    } catch {
      problem = { message: NETWORK_ERROR };
      return;
    }
    if (res.ok) {
      const out = await res.json().catch(() => ({}));
      outcome = { approved: 'approved', denied: 'denied', fraud_reported: 'fraud' }[out.status] || 'approved';
      return;
    }
    const e = await apiError(res);
    const left = e.body.attempts_left;
    switch (e.code) {
      case 'wrong_pin':
        $('pin-input').value = '';
        problem = {
          message: Number.isInteger(left)
            ? `Code secret incorrect. Il vous reste ${plural(left, 'essai', 'essais')} avant le verrouillage de cet appareil.`
            : 'Code secret incorrect.',
          focus: $('pin-input'),
        };
        return;
      case 'invalid_pin':
        problem = { message: 'Le code secret comporte exactement 4 chiffres.', focus: $('pin-input') };
        return;
      case 'wrong_number':
        outcome = { kind: 'wrong_number', left };
        return;
      case 'device_locked':
        outcome = { kind: 'locked', reason: e.body.lock_reason };
        return;
      case 'challenge_expired':
        outcome = 'expired';
        return;
      case 'challenge_decided':
        outcome = 'decided';
        return;
      case 'unknown_challenge':
      case 'foreign_challenge':
        outcome = 'unknown';
        return;
      case 'device_revoked':
      case 'invalid_device_request':
        outcome = e;
        return;
      default:
        problem = { message: genericError(e) };
    }
  } catch (err) {
    console.error(err);
    problem = { message: 'La réponse n\'a pas pu être signée sur cet appareil. Réessayez.' };
  } finally {
    state.busy = false;
    setBusy(button, false);
    if (outcome instanceof ApiError) {
      onDeviceStateError(outcome);
    } else if (outcome !== null) {
      finishChallenge(outcome);
    } else {
      setChallengeDisabled(false);
      if (problem) challengeError(problem.message, problem.focus);
    }
  }
}

const OUTCOMES = {
  approved: {
    mark: 'ok',
    title: 'Connexion approuvée',
    text: (c) => `Votre connexion à ${c} est confirmée. Poursuivez sur l'écran où vous vous connectez.`,
  },
  denied: {
    mark: 'bad',
    title: 'Connexion refusée',
    text: (c) => `La demande de connexion à ${c} a été refusée.`,
  },
  fraud: {
    mark: 'bad',
    title: 'Signalement enregistré',
    text: () => 'La demande a été refusée et signalée à Sésame. Si quelqu\'un connaît votre mot de passe, changez-le dès que possible.',
  },
  wrong_number: {
    mark: 'bad',
    title: 'Nombre incorrect : demande annulée',
    text: () => 'Le nombre choisi n\'est pas celui affiché sur l\'écran de connexion. Par sécurité, la demande a été annulée. Si c\'est bien vous, recommencez la connexion depuis votre ordinateur.',
  },
  expired: {
    mark: 'info',
    title: 'Demande expirée',
    text: () => 'La demande n\'a pas reçu de réponse dans les 2 minutes. Si besoin, recommencez la connexion depuis votre ordinateur.',
  },
  decided: {
    mark: 'info',
    title: 'Demande déjà traitée',
    text: () => 'Cette demande a déjà reçu une réponse ou a été annulée.',
  },
  unknown: {
    mark: 'info',
    title: 'Demande introuvable',
    text: () => 'Cette demande n\'existe plus. Si besoin, recommencez la connexion depuis votre ordinateur.',
  },
};

/** What locked the device, as the server says (`lock_reason`). */
const LOCK_REASONS = {
  wrong_pins: 'Trois codes secrets erronés ont été saisis à la suite. Par sécurité, cet appareil est verrouillé : il ne peut plus approuver de connexion.',
  wrong_numbers: 'Trois erreurs de nombre à la suite : le nombre choisi n\'était pas celui affiché sur l\'écran de connexion. Par sécurité, cet appareil est verrouillé : il ne peut plus approuver de connexion.',
};

function showLocked(reason) {
  const known = reason === 'wrong_numbers' ? 'wrong_numbers' : 'wrong_pins';
  $('locked-reason').dataset.reason = known;
  $('locked-reason').textContent = fr(LOCK_REASONS[known]);
  show('locked');
}

function finishChallenge(outcome) {
  const c = state.challenge;
  if (c) state.decided.add(c.id);
  state.challenge = null;
  state.selectedNumber = null;
  $('pin-input').value = '';
  stopCountdown();
  if (outcome.kind === 'locked') {
    state.listener?.stop();
    showLocked(outcome.reason);
    return;
  }
  const kind = typeof outcome === 'string' ? outcome : outcome.kind;
  const o = OUTCOMES[kind];
  const client = c?.client_name || 'ce site';
  $('result-mark').className = `mark mark-${o.mark}`;
  $('result-title').textContent = fr(o.title);
  $('result-text').textContent = fr(o.text(client));
  let extra = '';
  if (kind === 'wrong_number' && Number.isInteger(outcome.left)) {
    extra = outcome.left === 1
      ? 'Encore une erreur de nombre et cet appareil sera verrouillé (les erreurs de nombre sont comptées à part des codes secrets).'
      : `Encore ${outcome.left} erreurs de nombre et cet appareil sera verrouillé (les erreurs de nombre sont comptées à part des codes secrets).`;
  }
  setNotice($('result-extra'), extra);
  show('result');
  document.title = `${o.title} — Sésame`;
}


// ------------------------------------------------------------------ notifications (Web Push)

function b64urlDecode(text) {
  const s = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

const pushSupported = () => 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;

/** 'on' | 'off' (the person said no, or turned them off) | 'unavailable'. */
const PUSH_CHOICE = 'sesame-push-choice';

async function serverPushKey() {
  await discover();
  const res = await fetch(`${state.apiPrefix}${API}/push/key`, { cache: 'no-store' });
  if (!res.ok) throw await apiError(res);
  const body = await res.json();
  return body.enabled ? body.public_key : null;
}

/** Subscribes (or renews the subscription) and registers it with Sésame. */
async function subscribePush({ ask }) {
  if (!pushSupported()) return 'unsupported';
  if (Notification.permission === 'default' && ask) await Notification.requestPermission();
  if (Notification.permission !== 'granted') return 'denied';
  const key = await serverPushKey();
  if (!key) return 'disabled';
  // Not `serviceWorker.ready`: the app is also opened as "/app", outside the
  // worker's scope ("/app/"), where `ready` never settles.
  const registration =
    (await navigator.serviceWorker.getRegistration(`${BASE}/app/`)) ||
    (await navigator.serviceWorker.register(`${BASE}/app/sw.js`, { scope: `${BASE}/app/` }));
  let subscription = await registration.pushManager.getSubscription();
  const current = subscription?.options?.applicationServerKey;
  // After a key rotation on the server, subscribe again with the new key.
  if (subscription && current && b64url(new Uint8Array(current)) !== key) {
    await subscription.unsubscribe();
    subscription = null;
  }
  if (!subscription) {
    subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64urlDecode(key) });
  }
  const json = subscription.toJSON();
  const res = await signedFetch('PUT', `${API}/push/subscription`, {
    body: { endpoint: json.endpoint, expirationTime: json.expirationTime ?? null, keys: json.keys, server_key: key },
  });
  if (!res.ok) throw await apiError(res);
  return 'on';
}

async function unsubscribePush() {
  if (pushSupported()) {
    const registration = await navigator.serviceWorker.getRegistration(`${BASE}/app/`);
    const subscription = await registration?.pushManager.getSubscription();
    await subscription?.unsubscribe().catch(() => {});
  }
  const res = await signedFetch('DELETE', `${API}/push/subscription`);
  if (!res.ok && res.status !== 204) throw await apiError(res);
}

function setPushState(on) {
  state.pushOn = on;
  $('waiting-hint').textContent = fr(
    on
      ? 'Quand vous vous connecterez à un site avec Sésame, vous recevrez une notification, même si l\'application est fermée.'
      : 'Quand vous vous connecterez à un site avec Sésame, la demande apparaîtra ici. Gardez cette application ouverte.',
  );
  const declined = localStorage.getItem(PUSH_CHOICE) === 'off';
  $('push-offer').hidden = on || declined || !pushSupported() || Notification.permission === 'denied';
}

const PUSH_FAILURES = {
  unsupported: 'Ce navigateur ne permet pas les notifications. Gardez l\'application ouverte pour recevoir les demandes.',
  denied: 'Les notifications sont bloquées pour Sésame dans les réglages du navigateur. Sans elles, gardez l\'application ouverte pour recevoir les demandes.',
  disabled: 'Sésame n\'envoie pas de notifications pour le moment. Gardez l\'application ouverte pour recevoir les demandes.',
};
const PUSH_UNAVAILABLE = 'Les notifications ne sont pas disponibles pour le moment (service de notification injoignable). Gardez l\'application ouverte pour recevoir les demandes ; vous pourrez réessayer depuis « Mes appareils ».';

/** Turns notifications on from a button (a user gesture, as browsers require). */
async function enablePush(errorEl) {
  setAlert(errorEl, null);
  let outcome;
  try {
    outcome = await subscribePush({ ask: true });
  } catch (e) {
    console.warn('Sésame: push subscription', e);
    if (e instanceof ApiError && isDeviceStateError(e)) {
      onDeviceStateError(e);
      return false;
    }
    outcome = 'unavailable';
  }
  if (outcome === 'on') {
    localStorage.setItem(PUSH_CHOICE, 'on');
    setPushState(true);
    return true;
  }
  setAlert(errorEl, PUSH_FAILURES[outcome] || PUSH_UNAVAILABLE);
  setPushState(false);
  return false;
}

async function disablePush() {
  await unsubscribePush();
  localStorage.setItem(PUSH_CHOICE, 'off');
  setPushState(false);
}

/** At start-up: renew a subscription the person agreed to (key rotation, browser renewal). */
async function syncPush() {
  if (!state.device || !pushSupported() || Notification.permission !== 'granted' || localStorage.getItem(PUSH_CHOICE) !== 'on') {
    setPushState(false);
    return;
  }
  try {
    setPushState((await subscribePush({ ask: false })) === 'on');
  } catch (e) {
    console.warn('Sésame: push renewal', e);
    setPushState(false);
  }
}

// ------------------------------------------------------------------ (d) my devices

const STATE_LABELS = { active: 'Actif', locked: 'Verrouillé', revoked: 'Révoqué' };
const STATE_ORDER = { active: 0, locked: 1, revoked: 2 };

async function openDevices(message) {
  show('devices');
  setAlert($('devices-error'), null);
  $('devices-status').textContent = fr(message || 'Chargement…');
  await loadDevices(message);
}

/** Handles an error of a device-signed call made from "Mes appareils". */
function devicesFailure(e) {
  if (e instanceof ApiError && ['device_revoked', 'device_locked', 'invalid_device_request'].includes(e.code)) {
    onDeviceStateError(e);
    return;
  }
  $('devices-status').textContent = '';
  setAlert($('devices-error'), e instanceof ApiError ? genericError(e) : NETWORK_ERROR);
}

async function loadDevices(message) {
  const list = $('devices-list');
  let devices;
  try {
    const res = await signedFetch('GET', `${API}/devices`);
    if (!res.ok) throw await apiError(res);
    devices = (await res.json()).devices || [];
  } catch (e) {
    list.replaceChildren();
    devicesFailure(e);
    return;
  }
  devices.sort(
    (a, b) =>
      Number(b.current) - Number(a.current) ||
      (STATE_ORDER[a.state] ?? 3) - (STATE_ORDER[b.state] ?? 3) ||
      b.created_at - a.created_at,
  );
  list.replaceChildren(...devices.map(renderDevice));
  const active = devices.filter((d) => d.state === 'active').length;
  $('devices-status').textContent = fr(message || `${plural(devices.length, 'appareil', 'appareils')}, dont ${active} ${active > 1 ? 'actifs' : 'actif'}.`);
}

// ------------------------------------------------------------------ (e) my connections

const OUTCOME_LABELS = {
  approved: 'Connexion acceptée',
  refused: 'Refusée sur l\'application',
  fraud_reported: 'Signalée : « Ce n\'est pas moi »',
  expired: 'Sans réponse : demande expirée',
};

async function openHistory() {
  show('history');
  setAlert($('history-error'), null);
  $('history-list').replaceChildren();
  state.historyPage = 0;
  await loadHistory();
}

async function loadHistory() {
  const page = (state.historyPage || 0) + 1;
  $('history-status').textContent = fr('Chargement…');
  $('history-more').hidden = true;
  let body;
  try {
    const res = await signedFetch('GET', `${API}/history`, { query: `?page=${page}` });
    if (!res.ok) throw await apiError(res);
    body = await res.json();
  } catch (e) {
    if (e instanceof ApiError && ['device_revoked', 'device_locked', 'invalid_device_request'].includes(e.code)) {
      onDeviceStateError(e);
      return;
    }
    $('history-status').textContent = '';
    setAlert($('history-error'), e instanceof ApiError ? genericError(e) : NETWORK_ERROR);
    return;
  }
  state.historyPage = page;
  const list = $('history-list');
  list.append(...(body.logins || []).map(renderLogin));
  $('history-more').hidden = !body.has_next;
  const count = list.children.length;
  $('history-status').textContent = fr(count ? plural(count, 'connexion affichée', 'connexions affichées') : 'Aucune connexion à un site partenaire pour l\'instant.');
}

function renderLogin(login) {
  const item = $('history-item').content.firstElementChild.cloneNode(true);
  item.dataset.outcome = login.outcome;
  item.querySelector('.login-partner').textContent = login.partner;
  const badge = item.querySelector('.login-outcome');
  badge.textContent = fr(OUTCOME_LABELS[login.outcome] || login.outcome);
  badge.dataset.state = login.outcome === 'approved' ? 'active' : 'locked';
  item.querySelector('.login-when').textContent = `${dateTimeFormat.format(new Date(login.at_ms))} · niveau ${login.acr}`;
  item.querySelector('.login-place').textContent = login.ip ? fr(`Lieu approximatif : ${login.ip}`) : '';
  item.querySelector('.login-browser').textContent = login.user_agent;
  return item;
}

let renameCounter = 0;

function renderDevice(device) {
  const item = $('device-item').content.firstElementChild.cloneNode(true);
  item.dataset.deviceId = device.id;
  item.dataset.state = device.state;
  item.dataset.current = String(Boolean(device.current));
  const nameEl = item.querySelector('.device-name');
  nameEl.textContent = device.name;
  const badge = item.querySelector('.badge-state');
  badge.textContent = STATE_LABELS[device.state] || device.state;
  badge.dataset.state = device.state;
  item.querySelector('.badge-current').hidden = !device.current;
  item.querySelector('.device-created').textContent = `Activé ${formatWhen(device.created_at).replace(/^(\d)/, 'le $1')}`;
  item.querySelector('.device-used').textContent = device.last_used_at
    ? `Dernière utilisation ${formatWhen(device.last_used_at).replace(/^(\d)/, 'le $1')}`
    : 'Jamais utilisé pour une connexion';
  const notifications = item.querySelector('.device-notifications');
  notifications.textContent = device.notifications ? 'Notifications activées' : 'Notifications désactivées';
  item.dataset.notifications = String(Boolean(device.notifications));
  const pushButton = item.querySelector('.device-push');
  if (device.current && device.state === 'active') {
    pushButton.hidden = false;
    pushButton.textContent = device.notifications ? 'Désactiver les notifications' : 'Activer les notifications';
    pushButton.addEventListener('click', async () => {
      const error = item.querySelector('.push-error');
      pushButton.disabled = true;
      try {
        if (device.notifications) {
          await disablePush();
          await loadDevices('Notifications désactivées sur cet appareil : gardez l\'application ouverte pour recevoir les demandes.');
        } else if (await enablePush(error)) {
          await loadDevices('Notifications activées sur cet appareil.');
        }
      } catch (e) {
        devicesFailure(e);
      } finally {
        pushButton.disabled = false;
      }
    });
  }

  const form = item.querySelector('.rename-form');
  const input = form.querySelector('input');
  const label = form.querySelector('label');
  const error = form.querySelector('.rename-error');
  const actions = item.querySelector('.device-actions');
  const renameButton = item.querySelector('.device-rename');
  const revokeButton = item.querySelector('.device-revoke');
  renameCounter += 1;
  input.id = `rename-${renameCounter}`;
  label.htmlFor = input.id;
  renameButton.setAttribute('aria-label', `Renommer ${device.name}`);
  revokeButton.setAttribute('aria-label', `Révoquer ${device.name}`);
  if (device.state === 'revoked') actions.hidden = true;

  renameButton.addEventListener('click', () => {
    input.value = device.name;
    setAlert(error, null);
    form.hidden = false;
    actions.hidden = true;
    input.focus();
    input.select();
  });
  form.querySelector('.rename-cancel').addEventListener('click', () => {
    form.hidden = true;
    actions.hidden = false;
    renameButton.focus();
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = input.value.trim();
    if (!name || name.length > 64) {
      input.setAttribute('aria-invalid', 'true');
      setAlert(error, 'Le nom doit comporter de 1 à 64 caractères.');
      input.focus();
      return;
    }
    const save = form.querySelector('button[type=submit]');
    setBusy(save, true, 'Enregistrement…');
    try {
      const res = await signedFetch('PATCH', `${API}/devices/${encodeURIComponent(device.id)}`, { body: { name } });
      if (!res.ok) {
        const e = await apiError(res);
        if (e.code === 'invalid_request') {
          input.setAttribute('aria-invalid', 'true');
          setAlert(error, 'Ce nom ne convient pas : 1 à 64 caractères.');
          input.focus();
          return;
        }
        if (e.code === 'unknown_device') {
          await loadDevices('Cet appareil n\'existe plus.');
          return;
        }
        throw e;
      }
      const updated = await res.json().catch(() => ({ name }));
      if (device.current && state.device) {
        state.device.name = updated.name || name;
        await saveDevice(state.device);
      }
      await loadDevices(`Appareil renommé en « ${updated.name || name} ».`);
      $('devices-status').focus();
    } catch (e) {
      devicesFailure(e);
    } finally {
      setBusy(save, false);
    }
  });

  revokeButton.addEventListener('click', async () => {
    const sure = await confirmDialog({
      title: 'Révoquer cet appareil ?',
      text: device.current
        ? `Cet appareil (« ${device.name} ») ne pourra plus approuver vos connexions. Pour utiliser l'application de nouveau, il faudra un nouveau code d'activation.`
        : `« ${device.name} » ne pourra plus approuver vos connexions.`,
      yes: 'Révoquer',
    });
    if (!sure) return;
    setBusy(revokeButton, true, 'Révocation…');
    try {
      const res = await signedFetch('DELETE', `${API}/devices/${encodeURIComponent(device.id)}`);
      if (!res.ok && res.status !== 204) {
        const e = await apiError(res);
        if (e.code === 'unknown_device') {
          await loadDevices('Cet appareil n\'existe plus.');
          return;
        }
        throw e;
      }
      if (device.current) {
        await forgetDevice();
        showActivation({ notice: 'Cet appareil a été révoqué : il ne peut plus approuver de connexions.' });
        return;
      }
      await loadDevices(`« ${device.name} » a été révoqué.`);
      $('devices-status').focus();
    } catch (e) {
      devicesFailure(e);
    } finally {
      setBusy(revokeButton, false);
    }
  });
  return item;
}

// ------------------------------------------------------------------ start-up

function bind() {
  $('activation-form').addEventListener('submit', activate);
  $('activation-newcode').addEventListener('click', showNewCode);
  $('newcode-form').addEventListener('submit', requestNewCode);
  $('newcode-back').addEventListener('click', () => showActivation({ email: $('nc-email').value.trim() }));
  $('locked-newcode').addEventListener('click', showNewCode);
  $('locked-activate').addEventListener('click', () => showActivation({ email: state.device?.email }));
  $('problem-retry').addEventListener('click', () => {
    showWaiting();
    startListening();
  });
  $('problem-activate').addEventListener('click', () => showActivation({ email: state.device?.email }));
  $('listen-retry').addEventListener('click', () => state.listener?.retryNow());
  $('nav-devices').addEventListener('click', () => openDevices());
  $('devices-history').addEventListener('click', () => openHistory());
  $('history-more').addEventListener('click', () => loadHistory());
  $('history-back').addEventListener('click', () => openDevices());
  $('devices-back').addEventListener('click', () => {
    if (state.challenge) show('challenge');
    else showWaiting();
  });
  $('result-done').addEventListener('click', () => showWaiting());
  $('push-enable').addEventListener('click', async () => {
    const button = $('push-enable');
    button.disabled = true;
    try {
      if (await enablePush($('push-offer-error'))) setNotice($('waiting-notice'), 'Notifications activées : vous pouvez fermer l\'application.');
    } finally {
      button.disabled = false;
    }
  });
  $('push-later').addEventListener('click', () => {
    localStorage.setItem(PUSH_CHOICE, 'off');
    setPushState(false);
  });
  // A tapped notification (sw.js): the request is fetched over the signed API.
  navigator.serviceWorker?.addEventListener('message', (event) => {
    if (event.data?.type === 'open-challenge' || event.data?.type === 'login-ended') state.listener?.retryNow();
    if (event.data?.type === 'push-renew') syncPush();
  });

  // Challenge: numbers are bound when rendered; PIN pad, typed digits, buttons.
  for (const key of document.querySelectorAll('.pin-pad [data-key]')) {
    key.addEventListener('click', () => pinKey(key.dataset.key));
  }
  const pin = $('pin-input');
  pin.addEventListener('input', () => {
    const digits = pin.value.replace(/[^0-9]/g, '').slice(0, 4);
    if (digits !== pin.value) pin.value = digits;
    pin.removeAttribute('aria-invalid');
  });
  pin.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      decide('approve');
    }
  });
  // Digits typed anywhere on the approval screen go to the PIN.
  document.addEventListener('keydown', (event) => {
    if (state.screen !== 'challenge' || state.busy || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target instanceof HTMLInputElement || $('confirm-dialog').open) return;
    if (/^[0-9]$/.test(event.key)) {
      event.preventDefault();
      pinKey(event.key);
    } else if (event.key === 'Backspace') {
      event.preventDefault();
      pinKey('erase');
    }
  });
  $('ch-approve').addEventListener('click', () => decide('approve'));
  $('ch-deny').addEventListener('click', () => decide('deny'));
  $('ch-fraud').addEventListener('click', () => decide('fraud'));

  // Back online or back on screen: reconnect now rather than after the back-off.
  window.addEventListener('online', () => state.listener?.retryNow());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') state.listener?.retryNow();
  });
}

function unsupported() {
  if (!window.isSecureContext) return 'Cette page doit être ouverte sur une adresse sécurisée (https).';
  if (!window.crypto?.subtle || typeof crypto.randomUUID !== 'function') return 'Ce navigateur ne fournit pas les fonctions cryptographiques nécessaires.';
  if (!window.indexedDB) return 'Ce navigateur ne permet pas de conserver la clé de l\'application (stockage désactivé ou navigation privée).';
  if (!window.ReadableStream || !window.TextDecoderStream) return 'Ce navigateur est trop ancien.';
  return null;
}

async function main() {
  applyLanguage();
  const reason = unsupported();
  if (reason) {
    $('unsupported-reason').textContent = reason;
    show('unsupported');
    return;
  }
  bind();
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register(`${BASE}/app/sw.js`, { scope: `${BASE}/app/` }).catch((e) => console.warn('Sésame: service worker', e));
  }
  try {
    state.device = (await loadDevice()) || null;
  } catch (e) {
    console.error(e);
    state.device = null;
  }
  discover().catch(() => {}); // early, for the clock; retried on use
  if (state.device) {
    showWaiting();
    startListening();
    syncPush();
  } else {
    showActivation();
  }
  document.body.dataset.ready = 'true';
}

main();
