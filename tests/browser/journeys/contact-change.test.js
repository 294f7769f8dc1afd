// The citizen space /compte (#16) on a 360×740 phone: identity, devices and
// the change of mobile number.
//
// 1. A citizen enrols up to the face-to-face reference (lib/enrol.js); a
//    clerk's decision is recorded with `idp-admin verify` (the console journey
//    covers the console's counter); the activation code is read in the SMS
//    outbox and the app (/app) is activated on the phone.
// 2. On the same phone, the citizen logs in to /compte: the declared identity
//    is shown as verified, and the device with its activation date, last use
//    and state. It is renamed (an empty name first: a French message).
// 3. "Changer de numéro de mobile": a wrong current password is refused, then
//    the new number gets a 6-digit SMS code (read in the dev outbox), a wrong
//    code says how many attempts are left, the right one saves the number; the
//    address gets a confirmation and the old number a text message; /compte
//    shows the new number, and the device is still there, active.
// axe-core checks every page loaded and every screenshotted state.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { env, expectAt, expectNoHorizontalScroll, expectText, frenchContext, launch, shot } from '../lib/browser.js';
import { PASSWORD, codeFor, enrolToReference, newestMessage, person } from '../lib/enrol.js';
import { fillActivation, openApp } from '../lib/app.js';

const JOURNEY = 'contact-change';
const PHONE = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const PIN = '5937';
const DEVICE_NAME = 'Mon Android';
const NEW_NAME = 'Téléphone de Camille';
const HERE = path.dirname(fileURLToPath(import.meta.url));
// run.sh exports the server's environment (database, master key) to the journeys.
const IDP_ADMIN = process.env.IDP_ADMIN || path.resolve(HERE, '../../../target/debug/idp-admin');

let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** "06 ** ** ** 40": how the pages show a number. */
function masked(mobile) {
  const digits = mobile.replace(/\D/g, '');
  return `${digits.slice(0, 2)} ** ** ** ${digits.slice(-2)}`;
}

/** A second unique number (06 12 35 xx xx: never one of person()'s). */
function otherMobile(me) {
  const tail = me.e164.slice(-4);
  return { mobile: `06 12 35 ${tail.slice(0, 2)} ${tail.slice(2)}`, e164: `+3361235${tail}` };
}

test('log in to /compte, rename the device, change the mobile number by SMS code', async () => {
  const me = person();
  const desk = await frenchContext(browser);
  let activation;
  try {
    const page = await desk.newPage();
    const outbox = await desk.newPage();
    const reference = await enrolToReference(page, outbox, me);
    execFileSync(IDP_ADMIN, [
      'verify', '--reference', reference, '--office', 'LYON01',
      '--agent', process.env.CLERK_USERNAME || 'c.martin', '--decision', 'verified',
    ], { stdio: ['ignore', 'ignore', 'inherit'] });
    const sms = await newestMessage(outbox, me.e164, (m) => m.text.includes("Code d'activation"));
    activation = sms.text.match(/Code d'activation de l'application : (\d{6})\b/)?.[1];
    assert.ok(activation, `an activation code in the SMS: ${sms.text}`);
  } finally {
    await desk.close();
  }

  const phone = await frenchContext(browser, PHONE);
  try {
    const app = await phone.newPage();
    await openApp(app);
    await app.getByTestId('activation-screen').waitFor();
    await fillActivation(app, { email: me.email, password: PASSWORD, code: activation, pin: PIN, name: DEVICE_NAME });
    await app.getByTestId('activation-submit').click();
    await app.getByTestId('waiting-screen').waitFor();

    const page = await phone.newPage();
    const outbox = await phone.newPage();
    await page.goto(`${env.issuer}/compte/connexion`);
    await page.getByLabel('Adresse électronique').fill(me.email);
    await page.getByLabel('Mot de passe', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Se connecter' }).click();
    await expectAt(page, env.issuer, '/compte');
    await expectText(page, 'Mon identité', 'Camille Marie', 'Durand', '12/04/1990', 'Identité vérifiée le', 'Mes appareils', DEVICE_NAME, 'Activé le', 'actif');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'account');

    // Rename: an empty name is refused in French, then the new name is kept.
    const device = page.locator('li.device', { hasText: DEVICE_NAME });
    await device.getByLabel("Nouveau nom de l'appareil").fill(' ');
    await device.getByRole('button', { name: 'Renommer' }).click();
    await expectAt(page, env.issuer, '/compte/appareils/renommer');
    await expectText(page, "Le nom de l'appareil doit comporter de 1 à 64 caractères.");
    await shot(page, JOURNEY, 'rename-refused');
    await page.locator('li.device').getByLabel("Nouveau nom de l'appareil").fill(NEW_NAME);
    await page.locator('li.device').getByRole('button', { name: 'Renommer' }).click();
    await expectText(page, "L'appareil a été renommé.");
    assert.equal((await page.locator('li.device h3').innerText()).trim(), NEW_NAME);
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'renamed');

    // The mobile number: password first, then the code sent to the new number.
    const next = otherMobile(me);
    await page.getByRole('link', { name: 'Changer de numéro de mobile' }).click();
    await expectAt(page, env.issuer, '/compte/mobile');
    await expectText(page, 'Changer de numéro de mobile', 'Vos appareils restent associés');
    await page.getByLabel('Mot de passe actuel').fill('pas mon mot de passe');
    await page.getByLabel('Nouveau numéro de mobile').fill(next.mobile);
    await page.getByRole('button', { name: 'Recevoir le code' }).click();
    await expectText(page, 'Le mot de passe actuel est incorrect.');
    assert.equal(await page.getByLabel('Nouveau numéro de mobile').inputValue(), next.mobile);
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'mobile-wrong-password');
    await page.getByLabel('Mot de passe actuel').fill(PASSWORD);
    await page.getByRole('button', { name: 'Recevoir le code' }).click();

    await expectAt(page, env.issuer, '/compte/mobile/code');
    await expectText(page, `envoyé par SMS au ${masked(next.mobile)}`);
    const code = await codeFor(outbox, next.e164, (m) => m.text.includes('nouveau numéro'));
    const wrong = code === '000000' ? '111111' : '000000';
    await page.getByLabel('Code à 6 chiffres').fill(wrong);
    await page.getByRole('button', { name: 'Valider' }).click();
    await expectText(page, 'reste 4 essai');
    await shot(page, JOURNEY, 'mobile-wrong-code');
    await page.getByLabel('Code à 6 chiffres').fill(code);
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'mobile-code');
    await page.getByRole('button', { name: 'Valider' }).click();

    await expectAt(page, env.issuer, '/compte/mobile/modifie');
    await expectText(page, 'Numéro de mobile modifié', "l'ancien numéro a été prévenu");
    await shot(page, JOURNEY, 'mobile-done');
    const confirmation = await newestMessage(outbox, me.email, (m) => m.subject.includes('numéro de mobile'));
    assert.match(confirmation.text, /Vos appareils restent associés/);
    const told = await newestMessage(outbox, me.e164, (m) => m.text.includes('a été remplacé'));
    assert.ok(told);

    await page.getByRole('link', { name: 'Retour à mon compte' }).click();
    await expectAt(page, env.issuer, '/compte');
    await expectText(page, masked(next.mobile), NEW_NAME, 'Identité vérifiée le');
    assert.equal((await page.locator('li.device dd').nth(2).innerText()).trim(), 'actif');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'account-after');
  } finally {
    await phone.close();
  }
});
