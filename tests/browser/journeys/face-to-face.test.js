// Face to face (#17), on a 360×740 phone, in French.
//
// 1. "Renvoyer un code" before the minute: the code page again, with the
//    seconds left as a notice (role="status", no error), nothing sent.
// 2. The reference page: what to bring (the document, the reference or its
//    QR code), the reference also sent by SMS, the verification places of
//    config/places.toml (run.sh sets verification.places_file), then a search
//    by postal code (a GET form: the prefix first, then the département) and
//    a malformed code.
// 3. "Je ne peux pas me déplacer : un facteur vient chez moi": the reference
//    page says the postman will call, lists no office, the SMS says so, and
//    the account page waits for the postman.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { env, expectAt, expectNoHorizontalScroll, expectText, frenchContext, launch, shot } from '../lib/browser.js';
import { enrolToChoice, enrolToReference, newestMessage, outboxMessages, person } from '../lib/enrol.js';

const JOURNEY = 'face-to-face';
const PHONE = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** The names of the places listed on the page, in order. */
async function places(page) {
  return (await page.locator('ul.places h3').allInnerTexts()).map((t) => t.trim());
}

/** "06 ** ** ** 40" for a person of lib/enrol.js. */
function masked(me) {
  return `06 ** ** ** ${me.e164.slice(-2)}`;
}

test('on a phone: a new code asked too soon says how many seconds to wait', async () => {
  const me = person();
  const context = await frenchContext(browser, PHONE);
  const page = await context.newPage();
  const outbox = await context.newPage();
  try {
    await page.goto(`${env.issuer}/inscription`);
    await page.getByLabel("J'ai 18 ans ou plus.").check();
    await page.getByLabel('smartphone').check();
    await page.getByLabel("J'ai une carte d'identité française").check();
    await page.getByRole('button', { name: 'Commencer' }).click();
    await page.getByLabel('Adresse électronique').fill(me.email);
    await page.getByRole('button', { name: 'Recevoir le code' }).click();
    await expectAt(page, env.issuer, '/inscription/courriel/code');
    await newestMessage(outbox, me.email);
    await page.getByRole('button', { name: 'Renvoyer un code' }).click();
    await expectAt(page, env.issuer, '/inscription/courriel/renvoyer');
    const notice = (await page.getByRole('status').innerText()).trim();
    const seconds = Number(notice.match(/^Vous pourrez demander un nouveau code dans (\d+) secondes\.$/)?.[1]);
    assert.ok(seconds >= 1 && seconds <= 60, notice);
    assert.equal(await page.getByRole('alert').count(), 0, 'a notice, not an error');
    assert.ok(await page.getByLabel('Code à 6 chiffres').isVisible(), 'the code can still be typed');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'code-wait');
    const sent = (await outboxMessages(outbox)).filter((m) => m.to === me.email);
    assert.equal(sent.length, 1, 'nothing sent again');
  } finally {
    await context.close();
  }
});

test('on a phone: the reference page lists where to go, searchable by postal code', async () => {
  const me = person();
  const context = await frenchContext(browser, PHONE);
  const page = await context.newPage();
  const outbox = await context.newPage();
  try {
    const reference = await enrolToReference(page, outbox, me);
    await expectText(
      page,
      'À apporter',
      "la pièce d'identité déclarée (Carte nationale d'identité française)",
      'cette référence, ou son QR code',
      `Elle vous a aussi été envoyée par SMS au ${masked(me)}.`,
      'Où aller',
    );
    const sms = await newestMessage(outbox, me.e164, (m) => m.text.includes(reference));
    assert.ok(sms.text.includes('bureau de poste'), sms.text);
    assert.equal((await places(page)).length, 8, 'the eight places of config/places.toml');
    await expectText(page, 'Bureau de poste Paris Louvre', '16 rue Étienne Marcel', 'Horaires');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'reference-places');

    const search = page.getByLabel('Chercher un bureau par code postal');
    await search.fill('69003');
    await page.getByRole('button', { name: 'Chercher' }).click();
    await page.waitForURL(/cp=69003/);
    assert.deepEqual(await places(page), [
      'Bureau de poste Lyon Part-Dieu',
      'Bureau de poste Lyon Bellecour',
      'Bureau de poste Villeurbanne Gratte-Ciel',
    ]);
    await expectText(page, 'Bureaux pour le code postal 69003 :');
    assert.equal(await search.inputValue(), '69003');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'places-search');

    await page.getByLabel('Chercher un bureau par code postal').fill('Lyon');
    await page.getByRole('button', { name: 'Chercher' }).click();
    await page.waitForURL(/cp=Lyon/);
    const field = page.getByLabel('Chercher un bureau par code postal');
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    await expectText(page, 'Saisissez un code postal de 5 chiffres');
    assert.deepEqual(await places(page), []);
    await shot(page, JOURNEY, 'places-search-invalid');
  } finally {
    await context.close();
  }
});

test('on a phone: a citizen who cannot get about asks for the postman', async () => {
  const me = person();
  const context = await frenchContext(browser, PHONE);
  const page = await context.newPage();
  const outbox = await context.newPage();
  try {
    await enrolToChoice(page, outbox, me);
    const visit = page.getByRole('button', { name: 'Je ne peux pas me déplacer : un facteur vient chez moi' });
    assert.ok(await visit.isVisible());
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'choice-home-visit');
    await visit.click();

    await expectAt(page, env.issuer, '/inscription/reference');
    const reference = (await page.locator('p.reference').innerText()).trim();
    await expectText(
      page,
      'Un facteur vient chez vous',
      `Un facteur vous appellera au ${masked(me)} pour convenir d'un rendez-vous chez vous.`,
      'cette référence, ou son QR code',
    );
    assert.equal(await page.getByLabel('Chercher un bureau par code postal').count(), 0, 'no office to find');
    assert.deepEqual(await places(page), []);
    const sms = await newestMessage(outbox, me.e164, (m) => m.text.includes(reference));
    assert.ok(sms.text.includes('facteur'), sms.text);
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'reference-home-visit');

    // The account page follows the home visit.
    await page.getByRole('link', { name: 'Suivre ma demande dans mon compte' }).click();
    await expectAt(page, env.issuer, '/compte');
    await expectText(page, 'En attente de la visite du facteur', reference);
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'account-home-visit');
  } finally {
    await context.close();
  }
});
