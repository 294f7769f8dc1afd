// Deleting a digital identity (#16, RGPD), on a 360×740 phone: a citizen
// who enrolled (up to the face-to-face reference) logs in to /compte,
// downloads their data (a JSON file holding their email, never the
// password), then deletes the identity: a wrong password first (French
// error), the password, the 6-digit code from the email outbox, the final
// confirmation. The last email says the identity was deleted, and
// /compte/connexion refuses the old credentials as for any unknown address.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { env, expectAt, expectNoHorizontalScroll, expectText, frenchContext, launch, shot } from '../lib/browser.js';
import { PASSWORD, codeFor, enrolToReference, newestMessage, person } from '../lib/enrol.js';

const JOURNEY = 'deletion';
const PHONE = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
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

test('download my data, then delete the identity with password and email code', async () => {
  const me = person();
  const enrolling = await frenchContext(browser);
  try {
    const page = await enrolling.newPage();
    const outbox = await enrolling.newPage();
    await enrolToReference(page, outbox, me);
  } finally {
    await enrolling.close();
  }

  const context = await frenchContext(browser, { ...PHONE, acceptDownloads: true });
  const page = await context.newPage();
  const outbox = await context.newPage();
  try {
    assert.equal(await logIn(page, me.email, PASSWORD), '/compte');
    await expectText(page, 'Mes données personnelles', 'Télécharger mes données', 'Supprimer mon identité numérique');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'account');

    // The export: a JSON file with the email, never the password.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Télécharger mes données' }).click(),
    ]);
    assert.match(download.suggestedFilename(), /\.json$/);
    const text = await readFile(await download.path(), 'utf8');
    const data = JSON.parse(text);
    assert.equal(data.format, 'sesame-export/1');
    assert.equal(data.account.email, me.email);
    assert.ok(!text.includes(PASSWORD), 'the export holds the password');
    assert.ok(!text.includes('$argon2'), 'the export holds a password hash');

    await page.getByRole('link', { name: 'Supprimer mon identité numérique' }).click();
    await expectAt(page, env.issuer, '/compte/supprimer');
    await expectText(page, 'Supprimer mon identité numérique', 'La suppression est définitive');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'delete');

    await page.getByLabel('Mot de passe', { exact: true }).fill('pas-le-bon-mot-de-passe');
    await page.getByRole('button', { name: 'Recevoir le code' }).click();
    await expectAt(page, env.issuer, '/compte/supprimer');
    await expectText(page, 'Le mot de passe est incorrect.');
    assert.equal(await page.getByLabel('Mot de passe', { exact: true }).getAttribute('aria-invalid'), 'true');
    await shot(page, JOURNEY, 'wrong-password');

    await page.getByLabel('Mot de passe', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Recevoir le code' }).click();
    await expectAt(page, env.issuer, '/compte/supprimer/code');
    await expectText(page, `Un code à 6 chiffres vient d'être envoyé à ${me.email}`);
    const code = await codeFor(outbox, me.email, (m) => m.subject.includes('supprimer votre identité'));
    await page.getByLabel('Code à 6 chiffres').fill(code);
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'code');
    await page.getByRole('button', { name: 'Valider' }).click();

    await expectAt(page, env.issuer, '/compte/supprimer/confirmer');
    await expectText(page, 'Confirmer la suppression', 'ne peut pas être annulée');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'confirm');
    await page.getByRole('button', { name: 'Supprimer définitivement mon identité' }).click();

    await expectAt(page, env.issuer, '/compte/supprimer/terminee');
    await expectText(page, 'Identité numérique supprimée', 'données personnelles effacées');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'deleted');

    const notice = await newestMessage(outbox, me.email, (m) => m.subject.includes('a été supprimée'));
    assert.match(notice.text, /Votre identité numérique a été supprimée/);

    // The session is gone, and the old credentials open nothing.
    await page.goto(`${env.issuer}/compte`);
    await expectAt(page, env.issuer, '/compte/connexion');
    assert.equal(await logIn(page, me.email, PASSWORD), '/compte/connexion');
    await expectText(page, 'Adresse électronique ou mot de passe incorrect.');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'login-refused');
  } finally {
    await context.close();
  }
});
