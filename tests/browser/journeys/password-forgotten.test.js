// Password forgotten (#16), on a 360×740 phone: a citizen who enrolled (up to
// the face-to-face reference) forgets the password, follows "Mot de passe
// oublié ?" from the account login page, types the email, reads the 6-digit
// code in the outbox, chooses a weak password first (French error, the form
// kept), then a good one, gets the notice email, and logs in with the new
// password (the old one no longer works).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { env, expectAt, expectNoHorizontalScroll, expectText, frenchContext, launch, shot } from '../lib/browser.js';
import { PASSWORD, codeFor, enrolToReference, newestMessage, person } from '../lib/enrol.js';

const JOURNEY = 'password-forgotten';
const PHONE = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const NEW_PASSWORD = 'Nouvelle-Clef-Bleue-73';
let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Logs in at /compte/connexion; returns the page's path afterwards. */
async function logIn(page, email, password) {
  await page.goto(`${env.issuer}/compte/connexion`);
  await page.getByLabel('Adresse électronique').fill(email);
  await page.getByLabel('Mot de passe', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.waitForLoadState('load');
  return new URL(page.url()).pathname;
}

test('from the login page link: email, code, new password, log in with it', async () => {
  const me = person();
  const enrolling = await frenchContext(browser);
  try {
    const page = await enrolling.newPage();
    const outbox = await enrolling.newPage();
    await enrolToReference(page, outbox, me);
  } finally {
    await enrolling.close();
  }

  const context = await frenchContext(browser, PHONE);
  const page = await context.newPage();
  const outbox = await context.newPage();
  try {
    await page.goto(`${env.issuer}/compte/connexion`);
    await expectText(page, 'Connexion à mon compte');
    await shot(page, JOURNEY, 'login-page');
    await page.getByRole('link', { name: 'Mot de passe oublié ?' }).click();

    await expectAt(page, env.issuer, '/compte/mot-de-passe-oublie');
    await expectText(page, 'Mot de passe oublié', 'un code à 6 chiffres');
    await expectNoHorizontalScroll(page);
    await page.getByLabel('Adresse électronique').fill(me.email);
    await shot(page, JOURNEY, 'email');
    await page.getByRole('button', { name: 'Recevoir le code' }).click();

    await expectAt(page, env.issuer, '/compte/mot-de-passe-oublie/code');
    await expectText(page, `Si un compte existe pour ${me.email}`);
    const code = await codeFor(outbox, me.email, (m) => m.subject.includes('changer de mot de passe'));
    await page.getByLabel('Code à 6 chiffres').fill(code);
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'code');
    await page.getByRole('button', { name: 'Valider' }).click();

    await expectAt(page, env.issuer, '/compte/mot-de-passe-oublie/nouveau');
    await page.getByLabel('Nouveau mot de passe').fill('azerty123456');
    await page.getByLabel('Confirmez le mot de passe').fill('azerty123456');
    await page.getByRole('button', { name: 'Enregistrer le nouveau mot de passe' }).click();
    await expectAt(page, env.issuer, '/compte/mot-de-passe-oublie/nouveau');
    await expectText(page, 'Ce mot de passe est trop facile à deviner.');
    assert.equal(await page.getByLabel('Nouveau mot de passe').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getByLabel('Nouveau mot de passe').inputValue(), '');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'weak-password');

    await page.getByLabel('Nouveau mot de passe').fill(NEW_PASSWORD);
    await page.getByLabel('Confirmez le mot de passe').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Enregistrer le nouveau mot de passe' }).click();
    await expectAt(page, env.issuer, '/compte/mot-de-passe-oublie/termine');
    await expectText(page, 'Mot de passe modifié', 'votre téléphone et votre code secret restent nécessaires');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'done');

    const notice = await newestMessage(outbox, me.email, (m) => m.subject.includes('a été modifié'));
    assert.match(notice.text, /Si ce n'est pas vous/);

    // The old password no longer opens the account; the new one does.
    assert.equal(await logIn(page, me.email, PASSWORD), '/compte/connexion');
    await expectText(page, 'Adresse électronique ou mot de passe incorrect.');
    await page.getByRole('link', { name: 'Mot de passe oublié ?' }).waitFor();
    await page.goto(`${env.issuer}/compte/mot-de-passe-oublie/termine`);
    await page.getByRole('link', { name: 'Me connecter' }).click();
    await expectAt(page, env.issuer, '/compte/connexion');
    await page.getByLabel('Adresse électronique').fill(me.email);
    await page.getByLabel('Mot de passe', { exact: true }).fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Se connecter' }).click();
    await expectAt(page, env.issuer, '/compte');
    await expectText(page, me.email, 'Changer de mot de passe');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'account');
  } finally {
    await context.close();
  }
});
