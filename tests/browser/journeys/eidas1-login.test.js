// eidas1 login from the demo relying party "Mon compte formation (démo)".
//
// 1. On a phone-sized screen, keyboard only: the tab order of the login page,
//    a wrong password (French error, email kept), the right one, then the
//    consent refused (the RP says the login was cancelled).
// 2. On a desktop: login, consent granted, the account page at eidas1, then a
//    purchase that needs eidas2: the eidas1 session is not enough, so Sésame
//    asks for the phone number (approval in the Sésame app, see
//    eidas2-app.test.js); the person goes back to the site instead, and the RP
//    shows the refusal.
//
// 3. On a 360×740 phone, a citizen whose identity is declared but not yet
//    verified: the consent page lists only what will be shared (the email),
//    says why the identity is not, and the relying party receives exactly
//    that. Then the demo citizen's account page shows the app's QR code.
//
// The tests run in this order against one server: the first must not grant
// consent, so that the second sees the consent page.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  env,
  expectAt,
  expectNoHorizontalScroll,
  expectText,
  frenchContext,
  launch,
  shot,
} from '../lib/browser.js';
import { PASSWORD, enrolToReference, person } from '../lib/enrol.js';

const JOURNEY = 'eidas1-login';
let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Checks that the page is the IdP's French login page for the demo RP. */
async function expectLoginPage(page) {
  await expectAt(page, env.issuer, '/login');
  assert.equal(await page.locator('html').getAttribute('lang'), 'fr');
  assert.equal(await page.title(), 'Connexion — Sésame — identité numérique');
  await expectText(page, 'Connexion', 'Mon compte formation (démo) souhaite vérifier votre identité.');
}

test('on a phone, keyboard only: wrong password, then consent refused', async () => {
  const context = await frenchContext(browser, {
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  const page = await context.newPage();
  try {
    await page.goto(`${env.rp}/login?level=eidas1`);
    await expectLoginPage(page);
    await expectNoHorizontalScroll(page);

    // Tab order from the top of the page: (skip link), email, password, submit.
    const stops = [];
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('Tab');
      stops.push(
        await page.evaluate(() => {
          const el = document.activeElement;
          return el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}:${el.textContent.trim()}`;
        }),
      );
      if (i === 0) await shot(page, JOURNEY, 'phone-first-tab');
    }
    const email = stops.indexOf('#email');
    assert.ok(email === 0 || (email === 1 && stops[0] === 'a:Aller au contenu'), `tab stops: ${JSON.stringify(stops)}`);
    assert.deepEqual(stops.slice(email, email + 3), ['#email', '#password', 'button:Se connecter'], `tab stops: ${JSON.stringify(stops)}`);

    // Start again from the email field and log in with the keyboard only.
    await page.getByLabel('Adresse électronique').focus();
    await page.keyboard.type(env.email);
    await page.keyboard.press('Tab');
    await page.keyboard.type('pas-le-bon-mot-de-passe');
    await shot(page, JOURNEY, 'phone-login-filled');
    await page.keyboard.press('Enter');

    // The alert exists only on the answer to the form.
    const alert = page.getByRole('alert');
    await alert.waitFor();
    await expectLoginPage(page);
    assert.equal((await alert.innerText()).trim(), 'Adresse électronique ou mot de passe incorrect.');
    assert.equal(await page.getByLabel('Adresse électronique').inputValue(), env.email);
    assert.equal(await page.getByLabel('Mot de passe').inputValue(), '');
    assert.equal(await page.getByLabel('Adresse électronique').getAttribute('aria-invalid'), 'true');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'phone-wrong-password');

    // The right password, still on the phone: the consent page fits too.
    await page.getByLabel('Mot de passe').focus();
    await page.keyboard.type(env.password);
    await page.keyboard.press('Enter');
    await expectAt(page, env.issuer, '/consent');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'phone-consent');

    await page.getByRole('button', { name: 'Refuser' }).click();
    await expectAt(page, env.rp, '/callback');
    await expectText(page, 'Vous avez annulé la connexion avec Sésame.');
    await shot(page, JOURNEY, 'phone-rp-denied');
  } finally {
    await context.close();
  }
});

test('eidas1 login, consent, account page, then an eidas2 purchase given up on the phone page', async () => {
  const context = await frenchContext(browser);
  const page = await context.newPage();
  try {
    await page.goto(`${env.rp}/`);
    await expectText(page, 'Mon compte formation (démo)', 'Consulter mon compte');
    await shot(page, JOURNEY, 'rp-home');

    await page.getByRole('link', { name: 'Consulter mon compte' }).click();
    await expectLoginPage(page);
    await shot(page, JOURNEY, 'login');

    await page.getByLabel('Adresse électronique').fill(env.email);
    await page.getByLabel('Mot de passe').fill(env.password);
    await shot(page, JOURNEY, 'login-filled');
    await page.getByRole('button', { name: 'Se connecter' }).click();

    await expectAt(page, env.issuer, '/consent');
    assert.equal(await page.locator('html').getAttribute('lang'), 'fr');
    await expectText(page, 'Autorisation de partage', "Mon compte formation (démo) recevra les informations suivantes si vous l'autorisez :");
    assert.deepEqual(await page.locator('main li').allInnerTexts(), [
      'Prénoms',
      'Nom de naissance',
      'Date de naissance',
      'Sexe',
      'Lieu de naissance',
      'Pays de naissance',
      'Adresse électronique',
    ]);
    await shot(page, JOURNEY, 'consent');
    await page.getByRole('button', { name: 'Autoriser' }).click();

    await expectAt(page, env.rp, '/compte');
    await expectText(page, 'Mon compte', 'Marie Louise', 'MARTIN', env.email);
    const acr = page.locator('dt', { hasText: 'Niveau de garantie (acr)' }).locator('xpath=following-sibling::dd[1]');
    assert.equal((await acr.innerText()).trim(), 'eidas1');
    await shot(page, JOURNEY, 'rp-account');

    // Step-up: the RP asks for eidas2, the SSO session is only eidas1: the
    // login goes on with the Sésame app, starting with the phone number.
    await page.getByRole('link', { name: 'Acheter une formation' }).click();
    await expectAt(page, env.issuer, '/login/telephone');
    assert.equal(await page.locator('html').getAttribute('lang'), 'fr');
    await expectText(page, 'Mon compte formation (démo) souhaite vérifier votre identité.');
    await page.getByLabel('Numéro de téléphone mobile').waitFor();
    await shot(page, JOURNEY, 'phone-page');

    await page.getByRole('button', { name: 'Annuler et revenir au site', exact: true }).click();
    await expectAt(page, env.rp, '/callback');
    await expectText(
      page,
      'Connexion annulée ou niveau de garantie non atteint',
      'niveau de garantie « substantiel » (eidas2)',
      'access_denied',
    );
    await shot(page, JOURNEY, 'rp-refusal');
  } finally {
    await context.close();
  }
});

test('on a 360×740 phone, an identity not yet verified: consent lists only what is shared', async () => {
  const me = person();
  const context = await frenchContext(browser, {
    viewport: { width: 360, height: 740 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  const page = await context.newPage();
  const outbox = await context.newPage();
  try {
    // Enrolled up to the post-office reference: declared, not verified.
    await enrolToReference(page, outbox, me);
    await page.context().clearCookies();
    await page.goto(`${env.rp}/login?level=eidas1`);
    await expectLoginPage(page);
    await page.getByLabel('Adresse électronique').fill(me.email);
    await page.getByLabel('Mot de passe').fill(PASSWORD);
    await page.getByRole('button', { name: 'Se connecter' }).click();

    await expectAt(page, env.issuer, '/consent');
    assert.deepEqual(await page.locator('main li').allInnerTexts(), ['Adresse électronique']);
    await expectText(
      page,
      "Votre identité n'est pas vérifiée (ou votre pièce d'identité a expiré) : vos nom, prénoms, date et lieu de naissance ne seront pas transmis.",
    );
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'declared-consent');
    await page.getByRole('button', { name: 'Autoriser' }).click();

    // The relying party got the email and nothing of the identity.
    await expectAt(page, env.rp, '/compte');
    await expectText(page, me.email);
    const body = await page.locator('body').innerText();
    for (const absent of ['Camille Marie', 'Durand', 'DURAND', '1990-04-12', '69123']) {
      assert.ok(!body.includes(absent), `the RP received «${absent}»:\n${body}`);
    }
    await shot(page, JOURNEY, 'declared-rp-account');

    // The demo citizen's account page: the app's QR code, for a phone.
    await page.context().clearCookies();
    await page.goto(`${env.issuer}/compte/connexion`);
    await page.getByLabel('Adresse électronique').fill(env.email);
    await page.getByLabel('Mot de passe', { exact: true }).fill(env.password);
    await page.getByRole('button', { name: 'Se connecter' }).click();
    await expectAt(page, env.issuer, '/compte');
    const qr = page.getByRole('img', { name: "QR code de l'adresse de l'application Sésame" });
    await qr.waitFor();
    assert.equal(await qr.getAttribute('src'), '/compte/application.svg');
    await page.waitForFunction(() => document.querySelector('img.app-qr').complete);
    assert.ok((await qr.evaluate((img) => img.naturalWidth)) > 0, 'the QR code loads under the CSP');
    await qr.scrollIntoViewIfNeeded();
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'account-app-qr');
  } finally {
    await context.close();
  }
});
