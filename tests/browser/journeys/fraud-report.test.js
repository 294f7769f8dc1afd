// "Ce n'est pas moi" (#16): a login to the partner site is started on a
// desktop with the citizen's number; the citizen's app (360 px phone)
// answers "Ce n'est pas moi". The desktop is told only that the login was
// refused (never "signalé": it may be the intruder's browser); the
// citizen's email and SMS name the partner and link to /compte; the
// connection history at /compte/historique lists the report, and the app's
// "Mes connexions" too.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { env, expectAt, expectNoHorizontalScroll, expectText, frenchContext, launch, shot } from '../lib/browser.js';
import { DESKTOP, startPhoneLogin, waitForChallenge } from '../lib/app.js';
import { accountLogin, citizenWithApp } from '../lib/citizen.js';
import { newestMessage } from '../lib/enrol.js';

const JOURNEY = 'fraud-report';
const PHONE = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('the app reports the login; the browser sees a plain refusal; mail, SMS and history say so', async () => {
  const { me, phone, app, outbox } = await citizenWithApp(browser);
  const desktop = await frenchContext(browser, DESKTOP);
  try {
    const page = await desktop.newPage();
    await page.goto(`${env.rp}/login?level=eidas2`);
    await expectAt(page, env.issuer, '/login/telephone');
    await startPhoneLogin(page, me.mobile);
    await shot(page, JOURNEY, 'desktop-waiting');

    await waitForChallenge(app);
    const partner = (await app.getByTestId('challenge-client').innerText()).trim();
    assert.ok(partner.length > 0, 'the app names the partner');
    await shot(app, JOURNEY, 'app-request');
    await app.getByTestId('challenge-fraud').click();
    await app.getByTestId('confirm-dialog').waitFor();
    await shot(app, JOURNEY, 'app-confirm');
    await app.getByTestId('confirm-yes').click();
    await app.getByTestId('result-screen').waitFor();
    await shot(app, JOURNEY, 'app-reported');

    // The desktop: a plain refusal, as after "Refuser".
    const reason = page.locator('#end-reason');
    await reason.waitFor({ timeout: 20_000 });
    assert.equal(await reason.getAttribute('data-status'), 'denied');
    const text = await page.locator('main').innerText();
    assert.doesNotMatch(text, /signal/i, 'the browser is not told of the report');
    await expectText(page, 'Connexion non aboutie');
    await shot(page, JOURNEY, 'desktop-refused');

    // The citizen is told, with the partner and a link to their space.
    const mail = await newestMessage(outbox, me.email, (m) => m.subject.includes("Ce n'est pas moi"));
    assert.ok(mail.text.includes(partner), `the email names ${partner}: ${mail.text}`);
    assert.ok(mail.text.includes(`${env.issuer}/compte`), 'the email links to /compte');
    const sms = await newestMessage(outbox, me.e164, (m) => m.text.includes("Ce n'est pas moi"));
    assert.ok(sms.text.includes(partner), `the SMS names ${partner}: ${sms.text}`);

    // The history, on a phone-sized page: the report, newest first.
    const space = await phone.newPage();
    await space.setViewportSize(PHONE.viewport);
    await accountLogin(space, me);
    await space.getByRole('link', { name: 'Mon historique de connexions' }).click();
    await expectAt(space, env.issuer, '/compte/historique');
    await expectText(space, 'Historique des connexions', partner, 'Signalée');
    const first = space.locator('ul.history li').first();
    assert.equal(await first.getAttribute('data-outcome'), 'fraud_reported');
    await expectNoHorizontalScroll(space);
    await shot(space, JOURNEY, 'history');

    // And in the app: "Mes appareils" → "Mes connexions".
    await app.getByTestId('result-done').click();
    await app.getByTestId('nav-devices').click();
    await app.getByTestId('devices-screen').waitFor();
    await app.getByTestId('devices-history').click();
    await app.getByTestId('history-screen').waitFor();
    const item = app.getByTestId('history-item').first();
    await item.waitFor();
    assert.equal(await item.getAttribute('data-outcome'), 'fraud_reported');
    assert.equal((await item.getByTestId('history-partner').innerText()).trim(), partner);
    await expectNoHorizontalScroll(app);
    await shot(app, JOURNEY, 'app-history');
  } finally {
    await desktop.close();
    await phone.close();
  }
});
