// eidas2 with the Sésame app: the demo citizen activates /app on a phone, then
// buys a training course on a desktop ("Acheter une formation" asks for
// eidas2) and approves the login on the phone with number matching and the PIN.
//
// 1. Phone (360 px): /app shows the activation form; a wrong activation code
//    (attempts left) and a weak PIN are refused with the server's reasons in
//    French; then the right code, a PIN and a device name: the waiting screen
//    ("Aucune demande en attente"), connected.
//    Desktop: the RP's purchase → /login/telephone → 06 12 34 56 78 → the
//    waiting page shows a number. Phone: the request names the RP, its time,
//    the browser's IP and user agent; the number is picked among three, the
//    PIN tapped on the keypad, "Valider": "Connexion approuvée". Desktop:
//    consent (the first time), then the RP's purchase page at acr eidas2.
// 2. With the event stream made unavailable, the app long-polls instead. A
//    wrong PIN: the app says how many attempts are left and stays on the
//    request; the right PIN, typed on the keyboard, approves.
// 3. "Ce n'est pas moi" asks for a confirmation (cancelled here), then
//    "Refuser": the desktop shows the refusal, and the RP gets access_denied.
// 3b. A wrong number: the request is cancelled, "2 wrong numbers left",
//    counted apart from wrong PINs.
// 4. Three wrong PINs in a row: the app explains the lock (the desktop login
//    ends); a new activation code is asked with email and password, read in
//    the SMS outbox, and the app is activated again.
//    The lock screen names what locked it (three wrong secret codes); a new
//    login on the desktop meanwhile ends at once ("bloquée après trois codes
//    secrets erronés", how to unlock it) instead of waiting 2 minutes.
// The phone is 360×740: the request's number, the PIN pad and "Valider" fit
// the screen without scrolling; the device name is prefilled from the platform.
// 5. "Mes appareils": this device is listed (the locked one as revoked),
//    renamed, then revoked: the app is back to its activation form.
//
// The tests share the phone (its IndexedDB holds the device key) and run in
// this order; each desktop login uses a fresh context (no SSO session).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { env, expectAt, expectNoHorizontalScroll, expectText, frenchContext, launch, shot } from '../lib/browser.js';
import { codeFor } from '../lib/enrol.js';
import {
  DESKTOP,
  PHONE as PHONE_780,
  activationCode,
  activationError,
  fillActivation,
  fr,
  offeredNumbers,
  openApp,
  passConsentIfAsked,
  startPhoneLogin,
  tapPin,
  waitForChallenge,
} from '../lib/app.js';

const JOURNEY = 'eidas2-app';
// The smallest common phone screen (#17): everything of a request must fit.
const PHONE = { ...PHONE_780, viewport: { width: 360, height: 740 } };
const PIN = '4831';
const DEVICE_NAME = 'Téléphone de Marie';
const DEMO_E164 = '+33612345678';

let browser;
let phone;
let app;
// Uncaught exceptions and Content-Security-Policy violations of the app.
const appProblems = [];

before(async () => {
  browser = await launch();
  phone = await frenchContext(browser, PHONE);
  app = await phone.newPage();
  app.on('pageerror', (e) => appProblems.push(`uncaught: ${e.message}`));
  app.on('console', (m) => {
    if (/Content.Security.Policy|Refused to/i.test(m.text())) appProblems.push(m.text());
  });
});
after(async () => {
  await phone?.close();
  await browser?.close();
});

/** The request's number, PIN pad and "Valider" are on screen with no scroll. */
async function expectApprovalFits(page) {
  const scrolled = await page.evaluate(() => window.scrollY);
  assert.equal(scrolled, 0, 'the approval screen is scrolled');
  const height = page.viewportSize().height;
  for (const id of ['challenge-numbers', 'pin-key-1', 'challenge-approve']) {
    const box = await page.getByTestId(id).boundingBox();
    assert.ok(box && box.y >= 0 && box.y + box.height <= height,
      `${id} is at ${JSON.stringify(box)}, outside the ${height} px screen`);
  }
}

/** The `<dd>` following the `<dt>` named `term` on the RP's pages. */
function described(page, term) {
  return page.locator('dt', { hasText: term }).locator('xpath=following-sibling::dd[1]');
}

/** A desktop context on the RP's eidas2 login, up to the number shown by Sésame. */
async function desktopLogin(step) {
  const desktop = await frenchContext(browser, DESKTOP);
  const page = await desktop.newPage();
  await page.goto(`${env.rp}/login?level=eidas2`);
  await expectAt(page, env.issuer, '/login/telephone');
  const number = await startPhoneLogin(page);
  await expectText(page, `Sur votre téléphone, choisissez le nombre ${number}`);
  await shot(page, JOURNEY, `${step}-desktop-number`);
  return { desktop, page, number };
}

test('activation on the phone, then an eidas2 purchase approved with the PIN', async () => {
  const code = activationCode();
  await openApp(app);
  await app.getByTestId('activation-screen').waitFor();
  assert.equal(await app.locator('html').getAttribute('lang'), 'fr');
  assert.equal(await app.title(), 'Activer l\'application — Sésame');
  await expectText(app, 'Activer l\'application');
  await expectNoHorizontalScroll(app);
  // Installable: the manifest and the service worker of scope /app/.
  const manifest = await app.evaluate(async () => {
    const href = document.querySelector('link[rel=manifest]').href;
    return (await fetch(href)).json();
  });
  assert.equal(manifest.name, 'Sésame');
  assert.equal(manifest.display, 'standalone');
  assert.equal(manifest.scope, '/app/');
  const scope = await app.evaluate(async () => {
    for (let i = 0; i < 50; i++) {
      const registration = await navigator.serviceWorker.getRegistration('/app/');
      if (registration) return registration.scope;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return null;
  });
  assert.equal(scope && new URL(scope).pathname, '/app/');
  await shot(app, JOURNEY, 'app-activation');
  // The device's name is prefilled from the platform, and editable.
  const prefilled = await app.getByTestId('activation-name').inputValue();
  assert.match(prefilled, /Chrome|Android|iPhone|Linux/, `prefilled name: ${prefilled}`);

  // A wrong activation code (another last digit): attempts left.
  const wrong = code.slice(0, 5) + String((Number(code[5]) + 1) % 10);
  await fillActivation(app, { code: wrong, pin: PIN, name: DEVICE_NAME });
  await shot(app, JOURNEY, 'app-activation-filled');
  await app.getByTestId('activation-submit').click();
  assert.equal(await activationError(app), 'Code d\'activation incorrect. Il vous reste 4 essais.');
  assert.equal(await app.getByTestId('activation-screen').getByLabel('Code d\'activation').getAttribute('aria-invalid'), 'true');
  await expectNoHorizontalScroll(app);
  await shot(app, JOURNEY, 'app-wrong-code');

  // The right code with a weak PIN: refused by the server, PIN fields emptied.
  await fillActivation(app, { code, pin: '1234', name: DEVICE_NAME });
  await app.getByTestId('activation-submit').click();
  await app.getByTestId('activation-error').filter({ hasText: 'trop facile' }).waitFor();
  assert.match(await activationError(app), /^Ce code secret est trop facile à deviner/);
  assert.equal(await app.getByTestId('activation-screen').getByLabel('Nouveau code secret').inputValue(), '');
  await shot(app, JOURNEY, 'app-weak-pin');

  // Two different PINs: caught before anything is sent.
  await fillActivation(app, { code, pin: PIN, pin2: '4832', name: DEVICE_NAME });
  await app.getByTestId('activation-submit').click();
  assert.equal(await activationError(app), 'Les deux codes secrets saisis sont différents.');

  // Activation.
  await fillActivation(app, { code, pin: PIN, name: DEVICE_NAME });
  await app.getByTestId('activation-submit').click();
  await app.getByTestId('waiting-screen').waitFor();
  await expectText(app, 'Aucune demande en attente', fr(`L'application est activée sur cet appareil (« ${DEVICE_NAME} »).`));
  assert.equal((await app.getByTestId('waiting-device-name').innerText()).trim(), DEVICE_NAME);
  // Connected by server-sent events (read with fetch()).
  await app.locator('[data-testid=listen-status][data-state=live][data-mode=sse]').waitFor();
  // The key is kept in IndexedDB, and the private key cannot be exported.
  const stored = await app.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('sesame-app');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const get = open.result.transaction('state').objectStore('state').get('device');
          get.onsuccess = () => {
            const d = get.result;
            resolve({ id: d.device_id, extractable: d.keyPair.privateKey.extractable, alg: d.keyPair.privateKey.algorithm.namedCurve });
            open.result.close();
          };
        };
      }),
  );
  assert.match(stored.id, /^[0-9a-f-]{36}$/);
  assert.equal(stored.extractable, false);
  assert.equal(stored.alg, 'P-256');
  await expectNoHorizontalScroll(app);
  await shot(app, JOURNEY, 'app-waiting');

  // Desktop: the purchase needs eidas2, which starts at the phone page.
  const desktop = await frenchContext(browser, DESKTOP);
  const page = await desktop.newPage();
  try {
    await page.goto(`${env.rp}/`);
    await page.getByRole('link', { name: 'Acheter une formation' }).click();
    await expectAt(page, env.issuer, '/login/telephone');
    assert.equal(await page.locator('html').getAttribute('lang'), 'fr');
    await expectText(page, 'Numéro de téléphone mobile');
    await shot(page, JOURNEY, 'desktop-phone-page');
    const number = await startPhoneLogin(page);
    await expectText(page, `Sur votre téléphone, choisissez le nombre ${number}`);
    await shot(page, JOURNEY, 'desktop-number');

    // Phone: the request.
    await waitForChallenge(app);
    assert.equal(await app.title(), 'Demande de connexion — Sésame');
    await expectText(app, 'Demande de connexion', 'Choisissez le nombre affiché à l\'écran', 'Valider', 'Refuser', 'Ce n\'est pas moi');
    assert.equal((await app.getByTestId('challenge-client').innerText()).trim(), 'Mon compte formation (démo)');
    assert.match(await app.getByTestId('challenge-time').innerText(), /aujourd'hui à \d\d:\d\d:\d\d/);
    assert.notEqual((await app.getByTestId('challenge-ip').innerText()).trim(), '');
    assert.match(await app.getByTestId('challenge-browser').innerText(), /Chrome sur Linux/);
    const numbers = await offeredNumbers(app);
    assert.equal(numbers.length, 3, `numbers offered: ${numbers}`);
    assert.ok(numbers.includes(number), `the app offers ${numbers}, the browser shows ${number}`);
    await expectNoHorizontalScroll(app);
    await expectApprovalFits(app);
    await shot(app, JOURNEY, 'app-challenge');

    await app.getByTestId(`number-${number}`).click();
    assert.equal(await app.getByTestId(`number-${number}`).getAttribute('aria-pressed'), 'true');
    await tapPin(app, PIN);
    assert.equal(await app.getByTestId('pin-input').inputValue(), PIN);
    await shot(app, JOURNEY, 'app-number-and-pin');
    await app.getByTestId('challenge-approve').click();
    await app.getByTestId('result-screen').waitFor();
    assert.equal((await app.getByTestId('result-title').innerText()).trim(), 'Connexion approuvée');
    await expectText(app, 'Mon compte formation (démo)');
    await shot(app, JOURNEY, 'app-approved');

    // Desktop: consent (first time for this client), then the purchase.
    await passConsentIfAsked(page, () => shot(page, JOURNEY, 'desktop-consent'));
    await expectAt(page, env.rp, '/achat');
    await expectText(page, 'Connexion au niveau eidas2 : vous pouvez acheter une formation.', 'Formation « Gestion de projet »');
    await shot(page, JOURNEY, 'rp-purchase');
    await page.getByRole('link', { name: 'Retour à mon compte' }).click();
    await expectAt(page, env.rp, '/compte');
    assert.equal((await described(page, 'Niveau de garantie (acr)').innerText()).trim(), 'eidas2');
    await shot(page, JOURNEY, 'rp-account-eidas2');

    // Back on the phone: nothing pending any more.
    await app.getByTestId('result-done').click();
    await app.getByTestId('waiting-screen').waitFor();
    assert.deepEqual(appProblems, []);
  } finally {
    await desktop.close();
  }
});

// Notifications (Web Push, issue #18). Chromium's own Push API subscription
// goes through Google's push service, which these tests may not reach (no
// network, and nothing of the browser reaches out to Google): the page's
// PushManager.subscribe is replaced by one returning a subscription on a
// loopback endpoint that run.sh allowlists (http://127.0.0.1:9, where nothing
// listens), so the app's whole flow (permission, subscribe, signed PUT, "Mes
// appareils", turning off) runs against the real server. The service
// worker's `push` handler is tested with a push delivered through the
// DevTools protocol (ServiceWorker.deliverPushMessage: a trusted push event
// with the plaintext payload, as the browser hands it over after decrypting).
test('notifications: offered with an explanation, subscribed, shown by the service worker, turned off', async () => {
  await phone.grantPermissions(['notifications'], { origin: env.issuer });
  await phone.addInitScript(() => {
    const fake = {
      endpoint: 'http://127.0.0.1:9/push/journey',
      expirationTime: null,
      options: { applicationServerKey: null, userVisibleOnly: true },
      keys: {
        p256dh: 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
        auth: 'BTBZMqHH6r4Tts7J_aSIgg',
      },
    };
    let current = null;
    const subscription = (key) => ({
      endpoint: fake.endpoint,
      expirationTime: null,
      options: { applicationServerKey: key, userVisibleOnly: true },
      toJSON: () => ({ endpoint: fake.endpoint, expirationTime: null, keys: fake.keys }),
      unsubscribe: async () => {
        current = null;
        return true;
      },
    });
    window.__pushSubscribeCalls = [];
    PushManager.prototype.subscribe = async function (options) {
      window.__pushSubscribeCalls.push({ userVisibleOnly: options.userVisibleOnly, keyLength: options.applicationServerKey.byteLength });
      current = subscription(options.applicationServerKey.buffer ?? options.applicationServerKey);
      return current;
    };
    PushManager.prototype.getSubscription = async function () {
      return current;
    };
  });
  await app.reload();
  await app.getByTestId('waiting-screen').waitFor();
  const offer = app.getByTestId('push-offer');
  await offer.waitFor();
  await expectText(app, 'Recevoir les demandes même application fermée', 'le nombre à choisir et votre code secret restent dans l\'application');
  assert.match(await app.getByTestId('waiting-hint').innerText(), /Gardez cette application ouverte/);
  await expectNoHorizontalScroll(app);
  await shot(app, JOURNEY, 'app-push-offer');

  await app.getByTestId('push-enable').click();
  await offer.waitFor({ state: 'hidden' });
  await expectText(app, fr('Notifications activées : vous pouvez fermer l\'application.'));
  assert.match(await app.getByTestId('waiting-hint').innerText(), /même si l.application est fermée/);
  const calls = await app.evaluate(() => window.__pushSubscribeCalls);
  assert.deepEqual(calls, [{ userVisibleOnly: true, keyLength: 65 }]);
  await shot(app, JOURNEY, 'app-push-on');

  // The service worker shows a login request, and closes it when it ends.
  const cdp = await phone.newCDPSession(app);
  const registrations = [];
  cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => registrations.push(...e.registrations));
  await cdp.send('ServiceWorker.enable');
  const deadline = Date.now() + 5000;
  while (!registrations.some((r) => !r.isDeleted && r.scopeURL.endsWith('/app/')) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const registration = registrations.find((r) => !r.isDeleted && r.scopeURL.endsWith('/app/'));
  assert.ok(registration, 'the app\'s service worker is registered');
  const deliver = (message) =>
    cdp.send('ServiceWorker.deliverPushMessage', {
      origin: env.issuer,
      registrationId: registration.registrationId,
      data: JSON.stringify(message),
    });
  const shown = () =>
    app.evaluate(async () =>
      (await (await navigator.serviceWorker.getRegistration('/app/')).getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data })),
    );
  const waitShown = async (count) => {
    const until = Date.now() + 5000;
    let list = await shown();
    while (list.length !== count && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      list = await shown();
    }
    return list;
  };
  const expires = Math.floor(Date.now() / 1000) + 120;
  await deliver({ type: 'login', challenge: 'journey-challenge', partner: 'Mon compte formation (démo)', expires_at: expires, number_matching: true });
  const notifications = await waitShown(1);
  assert.equal(notifications.length, 1, JSON.stringify(notifications));
  assert.equal(notifications[0].title, 'Demande de connexion');
  assert.equal(notifications[0].tag, 'sesame-login');
  assert.match(notifications[0].body, /Mon compte formation \(démo\) souhaite vérifier votre identité/);
  assert.match(notifications[0].body, /nombre à 2 chiffres/);
  assert.equal(notifications[0].data.challenge, 'journey-challenge');
  await deliver({ type: 'login_ended', challenge: 'journey-challenge', reason: 'expired' });
  assert.deepEqual(await waitShown(0), []);
  await deliver({ type: 'alert', alert: 'device_locked', at: expires });
  const alerts = await waitShown(1);
  assert.equal(alerts[0]?.title, 'Application bloquée', JSON.stringify(alerts));
  assert.match(alerts[0].body, /Trois codes secrets erronés/);
  // A lock by wrong numbers says so (#17).
  await deliver({ type: 'alert', alert: 'device_locked_numbers', at: expires });
  const both = await waitShown(2);
  const numbers = both.find((n) => n.data?.alert === 'device_locked_numbers');
  assert.match(numbers?.body || '', /Trois erreurs de nombre/, JSON.stringify(both));
  await cdp.detach();

  // "Mes appareils" says so, and turns them off.
  await app.getByTestId('nav-devices').click();
  const item = app.locator('[data-testid=device-item][data-current=true]');
  await item.waitFor();
  assert.equal(await item.getAttribute('data-notifications'), 'true');
  assert.equal((await item.getByTestId('device-notifications').innerText()).trim(), 'Notifications activées');
  await shot(app, JOURNEY, 'app-devices-push-on');
  await item.getByTestId('device-push').click();
  await app.locator('[data-testid=device-item][data-current=true][data-notifications=false]').waitFor();
  await expectText(app, 'Notifications désactivées');
  await app.getByTestId('devices-back').click();
  await app.getByTestId('waiting-screen').waitFor();
  assert.match(await app.getByTestId('waiting-hint').innerText(), /Gardez cette application ouverte/);
  assert.deepEqual(appProblems, []);
});

test('a wrong PIN says how many attempts are left, then the right one approves', async () => {
  // This time the event stream is unavailable (as behind a buffering proxy):
  // the app falls back to long-polling.
  const events = '**/api/device/v1/challenges/events';
  await app.route(events, (route) =>
    route.fulfill({ status: 404, contentType: 'application/json', body: '{"error":"not_found","error_description":"test"}' }),
  );
  await openApp(app);
  await app.locator('[data-testid=listen-status][data-state=live][data-mode=poll]').waitFor();
  const { desktop, page, number } = await desktopLogin('wrong-pin');
  try {
    await waitForChallenge(app);
    await app.getByTestId(`number-${number}`).click();
    await tapPin(app, '9753');
    await app.getByTestId('challenge-approve').click();
    const alert = app.getByTestId('challenge-error');
    await alert.waitFor();
    assert.equal((await alert.innerText()).trim(), 'Code secret incorrect. Il vous reste 2 essais avant le verrouillage de cet appareil.');
    // Still on the request, the number still chosen, the PIN emptied.
    assert.ok(await app.getByTestId('challenge-screen').isVisible());
    assert.equal(await app.getByTestId(`number-${number}`).getAttribute('aria-pressed'), 'true');
    assert.equal(await app.getByTestId('pin-input').inputValue(), '');
    assert.equal(await app.getByTestId('pin-input').getAttribute('aria-invalid'), 'true');
    await expectNoHorizontalScroll(app);
    // With the error shown, "Valider" is still on screen.
    await expectApprovalFits(app);
    await shot(app, JOURNEY, 'wrong-pin-app-attempts-left');

    // The right PIN with the keyboard (the PIN field has the focus), then Enter.
    await app.keyboard.type(PIN);
    assert.equal(await app.getByTestId('pin-input').inputValue(), PIN);
    await app.keyboard.press('Enter');
    await app.getByTestId('result-screen').waitFor();
    assert.equal((await app.getByTestId('result-title').innerText()).trim(), 'Connexion approuvée');
    await shot(app, JOURNEY, 'wrong-pin-app-approved');

    await passConsentIfAsked(page);
    await expectAt(page, env.rp, '/achat');
    await expectText(page, 'Connexion au niveau eidas2');
    await shot(page, JOURNEY, 'wrong-pin-rp-purchase');
    await app.getByTestId('result-done').click();
  } finally {
    await desktop.close();
    await app.unroute(events);
  }
});

test('"Ce n\'est pas moi" asks for a confirmation; "Refuser" sends the refusal to the RP', async () => {
  await openApp(app);
  await app.locator('[data-testid=listen-status][data-state=live][data-mode=sse]').waitFor();
  const { desktop, page } = await desktopLogin('deny');
  try {
    await waitForChallenge(app);
    await app.getByTestId('challenge-fraud').click();
    const dialog = app.getByTestId('confirm-dialog');
    await dialog.waitFor();
    await expectText(app, fr('Ce n\'est pas vous ?'), 'sera refusée et signalée à Sésame');
    await shot(app, JOURNEY, 'deny-app-fraud-confirmation');
    await app.getByTestId('confirm-no').click();
    await dialog.waitFor({ state: 'hidden' });
    assert.ok(await app.getByTestId('challenge-screen').isVisible());

    await app.getByTestId('challenge-deny').click();
    await app.getByTestId('result-screen').waitFor();
    assert.equal((await app.getByTestId('result-title').innerText()).trim(), 'Connexion refusée');
    await shot(app, JOURNEY, 'deny-app-refused');

    // Desktop: Sésame says so (the waiting page moves on by itself), then back
    // to the RP with access_denied.
    const back = page.getByRole('button', { name: 'Revenir au site', exact: true });
    await back.waitFor({ timeout: 20_000 });
    await shot(page, JOURNEY, 'deny-desktop-refused');
    await back.click();
    await expectAt(page, env.rp, '/callback');
    await expectText(page, 'Connexion annulée ou niveau de garantie non atteint', 'access_denied');
    await shot(page, JOURNEY, 'deny-rp-refusal');
    await app.getByTestId('result-done').click();
  } finally {
    await desktop.close();
  }
});

// #17: a wrong number cancels the request and is counted apart from wrong
// PINs (the lock below still takes three wrong PINs).
test('a wrong number cancels the request and says how many wrong numbers are left', async () => {
  const { desktop, page, number } = await desktopLogin('wrong-number');
  try {
    await waitForChallenge(app);
    const other = (await offeredNumbers(app)).find((n) => n !== number);
    await app.getByTestId(`number-${other}`).click();
    await tapPin(app, PIN);
    await app.getByTestId('challenge-approve').click();
    await app.getByTestId('result-screen').waitFor();
    assert.equal((await app.getByTestId('result-title').innerText()).trim(), fr('Nombre incorrect : demande annulée'));
    await expectText(app, 'Encore 2 erreurs de nombre et cet appareil sera verrouillé',
      'comptées à part des codes secrets');
    await shot(app, JOURNEY, 'wrong-number-app');
    await page.locator('#end-reason[data-status=wrong_number]').waitFor({ timeout: 20_000 });
    await shot(page, JOURNEY, 'wrong-number-desktop');
    await app.getByTestId('result-done').click();
    await app.getByTestId('waiting-screen').waitFor();
  } finally {
    await desktop.close();
  }
});

test('three wrong PINs lock the device; a new activation code unlocks it', async () => {
  const { desktop, page, number } = await desktopLogin('lock');
  try {
    await waitForChallenge(app);
    await app.getByTestId(`number-${number}`).click();
    const alert = app.getByTestId('challenge-error');
    for (const [pin, left] of [['9753', '2 essais'], ['8642', '1 essai']]) {
      await tapPin(app, pin);
      await app.getByTestId('challenge-approve').click();
      await alert.filter({ hasText: `Il vous reste ${left} avant` }).waitFor();
    }
    await shot(app, JOURNEY, 'lock-app-last-attempt');
    await tapPin(app, '7531');
    await app.getByTestId('challenge-approve').click();
    await app.getByTestId('locked-screen').waitFor();
    await expectText(app, 'Appareil verrouillé', 'demandez un nouveau code d\'activation');
    assert.equal(await app.getByTestId('locked-reason').getAttribute('data-reason'), 'wrong_pins');
    await expectText(app, 'Trois codes secrets erronés ont été saisis à la suite');
    await expectNoHorizontalScroll(app);
    await shot(app, JOURNEY, 'lock-app-locked');

    // Desktop: the login ends, back to the RP with access_denied.
    const back = page.getByRole('button', { name: 'Revenir au site', exact: true });
    await back.waitFor({ timeout: 20_000 });
    await shot(page, JOURNEY, 'lock-desktop-ended');
    await back.click();
    await expectAt(page, env.rp, '/callback');
    await expectText(page, 'access_denied');

    // A new login while the app is locked: told at once, not after 2 minutes.
    const blocked = await frenchContext(browser, DESKTOP);
    try {
      const again = await blocked.newPage();
      await again.goto(`${env.rp}/login?level=eidas2`);
      await expectAt(again, env.issuer, '/login/telephone');
      await again.getByLabel('Numéro de téléphone mobile').fill('06 12 34 56 78');
      const started = Date.now();
      await again.getByRole('button', { name: 'Continuer' }).click();
      await again.locator('#end-reason[data-status=blocked]').waitFor({ timeout: 10_000 });
      assert.ok(Date.now() - started < 10_000);
      await expectText(again, 'Votre application Sésame est bloquée après trois codes secrets erronés',
        'demandez un nouveau code d\'activation');
      assert.equal(await again.locator('#match-number').count(), 0);
      await shot(again, JOURNEY, 'lock-desktop-blocked-at-once');
    } finally {
      await blocked.close();
    }

    // Phone: a new activation code with the email (kept) and the password.
    await app.getByTestId('locked-newcode').click();
    const form = app.getByTestId('newcode-screen');
    await form.waitFor();
    assert.equal(await form.getByLabel('Adresse électronique').inputValue(), env.email);
    await form.getByLabel('Mot de passe').fill(env.password);
    await shot(app, JOURNEY, 'lock-app-new-code');
    await app.getByTestId('newcode-submit').click();
    await app.getByTestId('activation-notice').filter({ hasText: 'Un nouveau code d\'activation vous a été envoyé' }).waitFor();

    // The code arrives by SMS (the dev outbox), a new one.
    const outbox = await desktop.newPage();
    const code = await codeFor(outbox, DEMO_E164, (m) => m.text.includes('Code d\'activation'));
    assert.notEqual(code, activationCode());
    await app.getByTestId('activation-screen').getByLabel('Code d\'activation').fill(code);
    await app.getByTestId('activation-screen').getByLabel('Nouveau code secret').fill('2580');
    await app.getByTestId('activation-screen').getByLabel('Confirmez le code secret').fill('2580');
    await app.getByTestId('activation-screen').getByLabel('Nom de cet appareil').fill(DEVICE_NAME);
    await shot(app, JOURNEY, 'lock-app-reactivation');
    await app.getByTestId('activation-submit').click();
    await app.getByTestId('waiting-screen').waitFor();
    await app.locator('[data-testid=listen-status][data-state=live]').waitFor();
    await shot(app, JOURNEY, 'lock-app-reactivated');
  } finally {
    await desktop.close();
  }
});

test('"Mes appareils": this device is listed, renamed, then revoked', async () => {
  await app.getByTestId('waiting-screen').waitFor();
  await app.getByTestId('nav-devices').click();
  await app.getByTestId('devices-screen').waitFor();
  const item = app.locator('[data-testid=device-item][data-current=true]');
  await item.waitFor();
  assert.equal((await item.getByTestId('device-name').innerText()).trim(), DEVICE_NAME);
  assert.equal((await item.getByTestId('device-state').innerText()).trim(), 'Actif');
  // The device locked before the new activation is revoked.
  const others = app.locator('[data-testid=device-item][data-current=false]');
  assert.equal(await others.count(), 1);
  assert.equal((await others.getByTestId('device-state').innerText()).trim(), 'Révoqué');
  assert.equal(await others.getByTestId('device-revoke').isVisible(), false);
  await expectNoHorizontalScroll(app);
  await shot(app, JOURNEY, 'devices-list');

  await item.getByTestId('device-rename').click();
  const input = item.getByTestId('device-rename-input');
  assert.equal(await input.inputValue(), DEVICE_NAME);
  await input.fill('Pixel de Marie');
  await shot(app, JOURNEY, 'devices-rename');
  await item.getByTestId('device-rename-save').click();
  await app.getByTestId('devices-status').filter({ hasText: fr('Appareil renommé en « Pixel de Marie ».') }).waitFor();
  assert.equal((await item.getByTestId('device-name').innerText()).trim(), 'Pixel de Marie');
  await shot(app, JOURNEY, 'devices-renamed');

  await item.getByTestId('device-revoke').click();
  await app.getByTestId('confirm-dialog').waitFor();
  await expectText(app, fr('Révoquer cet appareil ?'));
  await shot(app, JOURNEY, 'devices-revoke-confirmation');
  await app.getByTestId('confirm-yes').click();
  await app.getByTestId('activation-screen').waitFor();
  await expectText(app, 'Cet appareil a été révoqué');
  await shot(app, JOURNEY, 'devices-revoked');

  // Reloaded, the app has forgotten the device.
  await openApp(app);
  await app.getByTestId('activation-screen').waitFor();
  assert.deepEqual(appProblems, []);
});

// #17: a phone whose language is English gets the app in English (the same
// table as the French, i18n.js): <html lang="en">, the activation form, its
// errors, the prefilled device name, the request (which still fits 360×740)
// and its outcome; "Mes appareils" with its dates.
test('in English when the phone is in English, and the approval still fits the screen', async () => {
  const english = await frenchContext(browser, { ...PHONE, locale: 'en-GB' });
  const problems = [];
  try {
    const en = await english.newPage();
    en.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
    await openApp(en);
    await en.getByTestId('activation-screen').waitFor();
    assert.equal(await en.locator('html').getAttribute('lang'), 'en');
    assert.equal(await en.title(), 'Activate the app — Sésame');
    await expectText(en, 'Activate the app', 'Email address', 'Activation code', 'Name of this device');
    assert.equal(await en.getByTestId('activation-name').inputValue(), 'Chrome on Linux');
    // An error of the app's own checks, in English.
    await en.getByTestId('activation-submit').click();
    assert.equal((await en.getByTestId('activation-error').innerText()).trim(), 'Enter your email address.');
    await expectNoHorizontalScroll(en);
    await shot(en, JOURNEY, 'en-activation');

    // A new activation code (the last device was revoked), then activation.
    await en.getByTestId('activation-newcode').click();
    const form = en.getByTestId('newcode-screen');
    await form.waitFor();
    await expectText(en, 'Get a new activation code');
    await form.getByLabel('Email address').fill(env.email);
    await form.getByLabel('Password').fill(env.password);
    await en.getByTestId('newcode-submit').click();
    await en.getByTestId('activation-notice').filter({ hasText: 'A new activation code was sent to you' }).waitFor();
    const outbox = await english.newPage();
    const code = await codeFor(outbox, DEMO_E164, (m) => m.text.includes('activation'));
    const screen = en.getByTestId('activation-screen');
    await screen.getByLabel('Email address').fill(env.email);
    await screen.getByLabel('Password').fill(env.password);
    await screen.getByLabel('Activation code').fill(code);
    await screen.getByLabel('New secret code').fill(PIN);
    await screen.getByLabel('Confirm the secret code').fill(PIN);
    await screen.getByLabel('Name of this device').fill('Phone of Mary');
    await en.getByTestId('activation-submit').click();
    await en.getByTestId('waiting-screen').waitFor();
    await expectText(en, 'No pending request');
    await en.locator('[data-testid=listen-status][data-state=live]').waitFor();
    await expectText(en, 'Connected: waiting for requests.');
    await shot(en, JOURNEY, 'en-waiting');

    const { desktop, page, number } = await desktopLogin('en');
    try {
      await waitForChallenge(en);
      await expectText(en, 'Login request', 'wants to verify your identity.', 'Choose the number shown on the screen', 'Confirm', 'Refuse', 'This is not me');
      assert.match(await en.getByTestId('challenge-time').innerText(), /today at \d\d:\d\d:\d\d/);
      await expectApprovalFits(en);
      await shot(en, JOURNEY, 'en-challenge');
      await en.getByTestId(`number-${number}`).click();
      await tapPin(en, '9182');
      await en.getByTestId('challenge-approve').click();
      await en.getByTestId('challenge-error').filter({ hasText: 'Wrong secret code. You have 2 attempts left before this device is locked.' }).waitFor();
      await expectApprovalFits(en);
      await shot(en, JOURNEY, 'en-wrong-pin');
      await tapPin(en, PIN);
      await en.getByTestId('challenge-approve').click();
      await en.getByTestId('result-screen').waitFor();
      assert.equal((await en.getByTestId('result-title').innerText()).trim(), 'Login approved');
      await shot(en, JOURNEY, 'en-approved');
      await passConsentIfAsked(page);
      await expectAt(page, env.rp, '/achat');
    } finally {
      await desktop.close();
    }

    // The service worker speaks English too: a lock alert pushed (as in the
    // notifications test, through the DevTools protocol).
    await english.grantPermissions(['notifications'], { origin: env.issuer });
    const cdp = await english.newCDPSession(en);
    const registrations = [];
    cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => registrations.push(...e.registrations));
    await cdp.send('ServiceWorker.enable');
    const deadline = Date.now() + 5000;
    while (!registrations.some((r) => !r.isDeleted && r.scopeURL.endsWith('/app/')) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const registration = registrations.find((r) => !r.isDeleted && r.scopeURL.endsWith('/app/'));
    assert.ok(registration, 'the app\'s service worker is registered');
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin: env.issuer,
      registrationId: registration.registrationId,
      data: JSON.stringify({ type: 'alert', alert: 'device_locked_numbers', at: Math.floor(Date.now() / 1000) }),
    });
    let shown = [];
    for (const until = Date.now() + 5000; shown.length === 0 && Date.now() < until;) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      shown = await en.evaluate(async () =>
        (await (await navigator.serviceWorker.getRegistration('/app/')).getNotifications()).map((n) => ({ title: n.title, body: n.body, lang: n.lang })));
    }
    assert.equal(shown[0]?.title, 'App locked', JSON.stringify(shown));
    assert.match(shown[0].body, /Three wrong numbers in a row/);
    assert.equal(shown[0].lang, 'en');
    await cdp.detach();

    // "My devices": names, states, activation date and last use, in English.
    await en.getByTestId('result-done').click();
    await en.getByTestId('nav-devices').click();
    await en.getByTestId('devices-screen').waitFor();
    const item = en.locator('[data-testid=device-item][data-current=true]');
    await item.waitFor();
    assert.equal((await item.getByTestId('device-name').innerText()).trim(), 'Phone of Mary');
    assert.equal((await item.getByTestId('device-state').innerText()).trim(), 'Active');
    await expectText(en, 'My devices', 'Activated today at', 'Last used today at', 'This device', 'Rename', 'Revoke');
    assert.equal(await en.title(), 'My devices — Sésame');
    await shot(en, JOURNEY, 'en-devices');
    assert.deepEqual(problems, []);
  } finally {
    await english.close();
  }
});
