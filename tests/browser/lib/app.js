// Helpers of the journeys that use the Sésame app (/app) on a phone and the
// phone login pages (/login/telephone) on a desktop.
import assert from 'node:assert/strict';
import { env, expectAt } from './browser.js';

/** A phone-sized screen (the app must work from 360 px wide). */
export const PHONE = { viewport: { width: 360, height: 780 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
export const DESKTOP = { viewport: { width: 1280, height: 800 } };

/** The demo citizen's mobile, as a person types it. */
export const DEMO_PHONE = '06 12 34 56 78';

/** The app's French typography: no-break spaces before « : ; ? ! » and inside guillemets. */
export const fr = (text) => text.replace(/ ([:;?!»])/g, '\u00a0$1').replace(/« /g, '«\u00a0');

/** The activation code printed by `idp-admin dev seed --json` (run.sh passes it on). */
export function activationCode() {
  const code = process.env.DEMO_ACTIVATION_CODE;
  if (!code) {
    throw new Error('DEMO_ACTIVATION_CODE is not set: run.sh takes it from `idp-admin dev seed --json` (activation_code), printed only while the demo citizen has no active device');
  }
  return code;
}

/** Opens /app and waits until its script has chosen the first screen. */
export async function openApp(page) {
  await page.goto(`${env.issuer}/app`);
  await page.locator('body[data-ready="true"]').waitFor({ state: 'attached' });
}

/** Fills the activation form (nothing is submitted). */
export async function fillActivation(page, { email = env.email, password = env.password, code, pin, pin2 = pin, name }) {
  const form = page.getByTestId('activation-screen');
  await form.getByLabel('Adresse électronique').fill(email);
  await form.getByLabel('Mot de passe').fill(password);
  await form.getByLabel('Code d\'activation').fill(code);
  await form.getByLabel('Nouveau code secret').fill(pin);
  await form.getByLabel('Confirmez le code secret').fill(pin2);
  if (name !== undefined) await form.getByLabel('Nom de cet appareil').fill(name);
}

/** The alert of the activation form, once shown. */
export async function activationError(page) {
  const alert = page.getByTestId('activation-error');
  await alert.waitFor();
  return (await alert.innerText()).trim();
}

/** Waits until the app shows a challenge (it arrives by SSE or long-poll). */
export async function waitForChallenge(page, timeout = 20_000) {
  await page.getByTestId('challenge-screen').waitFor({ state: 'visible', timeout });
}

/** Taps the PIN on the app's keypad. */
export async function tapPin(page, pin) {
  for (const digit of pin) await page.getByTestId(`pin-key-${digit}`).click();
}

/** The numbers offered by the app for the challenge on screen. */
export async function offeredNumbers(page) {
  return (await page.getByTestId('challenge-numbers').locator('button').allInnerTexts()).map((t) => Number(t.trim()));
}

/**
 * On the desktop: from /login/telephone, types the phone number and reaches
 * the waiting page; returns the number shown there.
 */
export async function startPhoneLogin(page, phone = DEMO_PHONE) {
  await expectAt(page, env.issuer, '/login/telephone');
  await page.getByLabel('Numéro de téléphone mobile').fill(phone);
  await page.getByRole('button', { name: 'Continuer' }).click();
  await expectAt(page, env.issuer, '/login/telephone/attente');
  const text = (await page.locator('#match-number').innerText()).trim();
  assert.match(text, /^[0-9]{1,2}$/, `#match-number reads ${JSON.stringify(text)}`);
  return Number(text);
}

/**
 * After an approval: the consent page the first time for this client (granted,
 * after `onConsent` ran), then back to the RP. Returns whether it was asked.
 */
export async function passConsentIfAsked(page, onConsent = async () => {}) {
  const issuer = new URL(env.issuer).origin;
  const rp = new URL(env.rp).origin;
  await page.waitForURL((url) => (url.origin === issuer && url.pathname === '/consent') || url.origin === rp, { timeout: 20_000 });
  if (new URL(page.url()).origin === issuer) {
    await onConsent();
    await page.getByRole('button', { name: 'Autoriser' }).click();
    return true;
  }
  return false;
}
