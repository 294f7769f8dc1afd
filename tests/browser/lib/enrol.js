// Enrolment helpers shared by the journeys: unique people, dates, the dev
// outbox (/dev/outbox) and a straight enrolment up to the face-to-face
// reference (no wrong input on the way; enrolment.test.js covers those).
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { env, expectAt } from './browser.js';

/** The password every enrolled citizen gets. */
export const PASSWORD = 'Tr0mbone-Vert-42!';

/** Unique per run: an email, a French mobile (06 12 34 xx xx) and an identity card number. */
export function person() {
  const tag = `${Date.now().toString(36)}${randomInt(1e6).toString(36)}`;
  const digits = String(randomInt(10_000)).padStart(4, '0');
  const alphabet = 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789';
  let card = '';
  for (let i = 0; i < 9; i++) card += alphabet[randomInt(alphabet.length)];
  return {
    email: `camille.${tag}@exemple.fr`,
    mobile: `06 12 34 ${digits.slice(0, 2)} ${digits.slice(2)}`,
    e164: `+3361234${digits}`,
    card,
  };
}

/** `YYYY-MM-DD` of today (UTC) shifted by whole years and days. */
export function isoDate({ years = 0, days = 0 } = {}) {
  const d = new Date();
  d.setUTCFullYear(d.getUTCFullYear() + years);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** The messages of /dev/outbox, newest first: { to, subject, text }. */
export async function outboxMessages(page) {
  await page.goto(`${env.issuer}/dev/outbox`);
  return page.locator('article.outbox').evaluateAll((articles) =>
    articles.map((a) => {
      const [subject, to] = a.querySelector('h2').textContent.split(' → ');
      return { subject: subject.trim(), to: (to ?? '').trim(), text: a.querySelector('pre').textContent };
    }),
  );
}

/**
 * The newest outbox message for `to` (and matching `filter`, if given), read
 * in `outbox` (a page of its own: it is navigated to /dev/outbox).
 */
export async function newestMessage(outbox, to, filter = () => true) {
  for (let i = 0; i < 20; i++) {
    const found = (await outboxMessages(outbox)).find((m) => m.to === to && filter(m));
    if (found) return found;
    await outbox.waitForTimeout(250);
  }
  throw new Error(`no message for ${to} in /dev/outbox`);
}

/** The 6-digit code of the newest message for `to`. */
export async function codeFor(outbox, to, filter) {
  const message = await newestMessage(outbox, to, filter);
  const match = message.text.match(/\b(\d{6})\b/);
  assert.ok(match, `no 6-digit code in the message to ${to}: ${message.text}`);
  return match[1];
}

/**
 * Enrols `me` (see person()) from the home page up to the face-to-face
 * reference, as Camille Marie Durand, born 12/04/1990 in Lyon, with a French
 * identity card. `page` ends on /inscription/reference; `outbox` is a second
 * page of the same context. Returns the reference.
 */
export async function enrolToReference(page, outbox, me) {
  await enrolToChoice(page, outbox, me);
  await page.getByRole('button', { name: 'En bureau de poste' }).click();

  await expectAt(page, env.issuer, '/inscription/reference');
  const reference = (await page.locator('p.reference').innerText()).trim();
  assert.match(reference, /^[0-9A-Z]{8}$/);
  return reference;
}

/** As enrolToReference, stopping on the verification choice (/inscription/verification). */
export async function enrolToChoice(page, outbox, me) {
  await page.goto(`${env.issuer}/`);
  await page.getByRole('link', { name: 'Créer mon identité numérique' }).click();

  await expectAt(page, env.issuer, '/inscription');
  await page.getByLabel("J'ai 18 ans ou plus.").check();
  await page.getByLabel('smartphone').check();
  await page.getByLabel("J'ai une carte d'identité française").check();
  await page.getByRole('button', { name: 'Commencer' }).click();

  await expectAt(page, env.issuer, '/inscription/courriel');
  await page.getByLabel('Adresse électronique').fill(me.email);
  await page.getByRole('button', { name: 'Recevoir le code' }).click();

  await expectAt(page, env.issuer, '/inscription/courriel/code');
  await page.getByLabel('Code à 6 chiffres').fill(await codeFor(outbox, me.email));
  await page.getByRole('button', { name: 'Valider' }).click();

  await expectAt(page, env.issuer, '/inscription/mot-de-passe');
  await page.getByLabel('Mot de passe', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Confirmez le mot de passe').fill(PASSWORD);
  await page.getByRole('button', { name: 'Créer mon compte' }).click();

  await expectAt(page, env.issuer, '/inscription/mobile');
  await page.getByLabel('Numéro de téléphone portable').fill(me.mobile);
  await page.getByRole('button', { name: 'Recevoir le code' }).click();

  await expectAt(page, env.issuer, '/inscription/mobile/code');
  await page.getByLabel('Code à 6 chiffres').fill(await codeFor(outbox, me.e164));
  await page.getByRole('button', { name: 'Valider' }).click();

  await expectAt(page, env.issuer, '/inscription/piece');
  await page.getByLabel("Carte nationale d'identité française").check();
  await page.getByRole('button', { name: 'Continuer' }).click();

  await expectAt(page, env.issuer, '/inscription/identite');
  await page.getByLabel('Nom de naissance').fill('Durand');
  await page.getByLabel('Prénoms').fill('Camille Marie');
  await page.getByLabel('Féminin').check();
  await page.getByLabel('Date de naissance').fill('1990-04-12');
  await page.getByLabel('Pays de naissance').selectOption('99100');
  await page.getByLabel('Commune de naissance').fill('69123');
  await page.getByLabel('Numéro de la pièce').fill(me.card);
  await page.getByLabel('Date de délivrance').fill(isoDate({ years: -2 }));
  await page.getByLabel("Date d'expiration").fill(isoDate({ years: 13, days: -1 }));
  await page.getByRole('button', { name: 'Vérifier mes informations' }).click();

  await expectAt(page, env.issuer, '/inscription/recapitulatif');
  await page.getByRole('button', { name: 'Je confirme' }).click();

  await expectAt(page, env.issuer, '/inscription/verification');
}
