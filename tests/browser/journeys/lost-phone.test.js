// Lost or stolen phone (#16), on a 360×740 phone: a citizen whose app is
// activated logs in to /compte with email and password (no phone needed),
// follows "Bloquer mon identité numérique", types the password, reads the
// 6-digit code in the dev outbox (a wrong code first: attempts left), and
// confirms. The confirmation says the identity is blocked; after a new
// login, /compte says "Identité bloquée" and offers no second block; the
// citizen got an email and an SMS; the app, opened again, is refused (its
// device is revoked) and falls back to its activation form.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { env, expectAt, expectNoHorizontalScroll, expectText, frenchContext, launch, shot } from '../lib/browser.js';
import { openApp } from '../lib/app.js';
import { accountLogin, citizenWithApp } from '../lib/citizen.js';
import { PASSWORD, codeFor, newestMessage } from '../lib/enrol.js';

const JOURNEY = 'lost-phone';
const PHONE = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('blocked from /compte with the password and an email code; the app is refused afterwards', async () => {
  const { me, phone, app } = await citizenWithApp(browser);
  // Another phone-sized browser (a borrowed one): the citizen's own phone is lost.
  const context = await frenchContext(browser, PHONE);
  try {
    const page = await context.newPage();
    const outbox = await context.newPage();
    await accountLogin(page, me);
    await expectText(page, 'Mon historique de connexions', 'Bloquer mon identité numérique');
    await shot(page, JOURNEY, 'account');
    await page.getByRole('link', { name: 'Bloquer mon identité numérique' }).click();

    await expectAt(page, env.issuer, '/compte/bloquer');
    await expectText(page, 'retire toutes vos applications Sésame');
    await expectNoHorizontalScroll(page);
    // A wrong password first: refused, nothing sent.
    await page.getByLabel('Mot de passe', { exact: true }).fill('pas-le-bon-mot-de-passe');
    await page.getByRole('button', { name: 'Recevoir le code par courriel' }).click();
    await expectAt(page, env.issuer, '/compte/bloquer');
    await expectText(page, 'Le mot de passe actuel est incorrect.');
    await shot(page, JOURNEY, 'wrong-password');
    await page.getByLabel('Mot de passe', { exact: true }).fill(PASSWORD);
    await shot(page, JOURNEY, 'password');
    await page.getByRole('button', { name: 'Recevoir le code par courriel' }).click();

    await expectAt(page, env.issuer, '/compte/bloquer/code');
    const code = await codeFor(outbox, me.email, (m) => m.subject.includes('bloquer votre identité'));
    const wrong = code.slice(0, 5) + String((Number(code[5]) + 1) % 10);
    await page.getByLabel('Code à 6 chiffres').fill(wrong);
    await page.getByRole('button', { name: 'Bloquer mon identité numérique' }).click();
    await expectAt(page, env.issuer, '/compte/bloquer/code');
    await expectText(page, 'Il vous reste 4 essai');
    await shot(page, JOURNEY, 'wrong-code');
    await page.getByLabel('Code à 6 chiffres').fill(code);
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'code');
    await page.getByRole('button', { name: 'Bloquer mon identité numérique' }).click();

    await expectAt(page, env.issuer, '/compte/bloquer/termine');
    await expectText(page, 'Identité numérique bloquée', 'nouveau code d\'activation');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'blocked');

    // Told by email and by SMS.
    const mail = await newestMessage(outbox, me.email, (m) => m.subject.includes('bloquée'));
    assert.ok(mail, 'an email says the identity is blocked');
    const sms = await newestMessage(outbox, me.e164, (m) => m.text.includes('bloquée'));
    assert.ok(sms, 'an SMS says the identity is blocked');

    // Every session ended: /compte asks for the password again, then says blocked.
    await page.goto(`${env.issuer}/compte`);
    await expectAt(page, env.issuer, '/compte/connexion');
    await accountLogin(page, me);
    await expectText(page, 'Identité bloquée');
    assert.equal(await page.getByRole('link', { name: 'Bloquer mon identité numérique' }).count(), 0);
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'account-blocked');

    // The app, opened again, is refused: back to the activation form.
    await openApp(app);
    await app.getByTestId('activation-screen').waitFor({ timeout: 20_000 });
    await expectText(app, 'révoqué');
    await shot(app, JOURNEY, 'app-refused');
  } finally {
    await context.close();
    await phone.close();
  }
});
