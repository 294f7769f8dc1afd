// Refused verification, then "Corriger mes informations" (#16), on a 360×740
// phone for the citizen and a desktop for the clerk:
//
// 1. A citizen enrols up to a face-to-face reference (lib/enrol.js).
// 2. A clerk (the second one run.sh creates, so this journey never depends
//    on the first one's TOTP enrolment) logs into the console, looks the
//    reference up and refuses it: category "informations différentes de la
//    pièce", with a reason for the agents.
// 3. The citizen is told by email and SMS, with the category and never the
//    clerk's words.
// 4. Logged in again (a new browser), the citizen's /compte shows the
//    refusal and its category, and "Corriger mes informations" reopens the
//    identity form with the previous values; the citizen corrects the given
//    names, confirms, chooses face to face again and gets a new reference.
// Every page loaded is checked with axe-core (lib/browser.js).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { env, expectAt, expectNoHorizontalScroll, expectText, frenchContext, launch, shot } from '../lib/browser.js';
import { chooseOwnPassword, totp } from '../lib/console.js';
import { PASSWORD, enrolToReference, newestMessage, person } from '../lib/enrol.js';

const JOURNEY = 'correct-identity';
const PHONE = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const DESKTOP = { viewport: { width: 1280, height: 800 } };
const CATEGORY = 'les informations déclarées ne correspondent pas à la pièce d\'identité';
const AGENT_REASON = 'Deuxième prénom absent de la carte, vu avec R. Leroy';

let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

function refuser() {
  const value = (name) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set: run the journeys with tests/browser/run.sh`);
    return v;
  };
  return {
    url: value('SESAME_CONSOLE_URL'),
    username: value('REFUSER_USERNAME'),
    password: value('REFUSER_PASSWORD'),
  };
}

/** The clerk logs in (first login: TOTP enrolment) and refuses `reference`. */
async function refuseAtTheCounter(page, reference) {
  const clerk = refuser();
  await page.goto(`${clerk.url}/connexion`);
  await page.getByLabel('Identifiant').fill(clerk.username);
  await page.getByLabel('Mot de passe').fill(clerk.password);
  await page.getByRole('button', { name: 'Continuer' }).click();
  await expectAt(page, clerk.url, '/totp');
  const secret = (await page.locator('code#totp-secret').innerText()).trim();
  await page.getByLabel("Code à 6 chiffres de votre application d'authentification").fill(totp(secret));
  await page.getByRole('button', { name: 'Valider' }).click();
  // First login: the initial password is replaced before anything else.
  await expectAt(page, clerk.url, '/mon-compte');
  await chooseOwnPassword(page, clerk.password, 'Refus-Motive-Au-Guichet');
  await page.getByRole('link', { name: "Aller à l'accueil" }).click();
  await expectAt(page, clerk.url, '/');

  await page.getByRole('link', { name: 'Vérifier une identité au guichet' }).click();
  await page.getByLabel('Référence (8 caractères, ou scannez le QR code)').fill(reference);
  await page.getByRole('button', { name: 'Rechercher' }).click();
  assert.equal((await page.locator('h1').innerText()).trim(), `Référence ${reference}`);
  const category = page.getByLabel('Motif communiqué à la personne (en cas de refus)');
  await category.selectOption('information');
  await page.getByLabel('Motif (obligatoire en cas de refus)').fill(AGENT_REASON);
  await shot(page, JOURNEY, 'counter-refusing');
  await page.getByRole('button', { name: 'Refuser' }).click();
  const notice = page.getByRole('status');
  await notice.waitFor();
  const said = (await notice.innerText()).trim();
  assert.ok(
    said.startsWith(`Demande refusée : Camille Marie Durand, référence ${reference}. La personne en est informée par courriel et SMS`),
    said,
  );
  await shot(page, JOURNEY, 'counter-refused');
}

test('a refused citizen corrects the identity from /compte and gets a new reference', async () => {
  const me = person();
  const enrolling = await frenchContext(browser, PHONE);
  const clerkContext = await frenchContext(browser, DESKTOP);
  const later = await frenchContext(browser, PHONE);
  try {
    // 1. Up to the reference.
    const page = await enrolling.newPage();
    const outbox = await enrolling.newPage();
    const reference = await enrolToReference(page, outbox, me);

    // 2. Refused at the counter.
    await refuseAtTheCounter(await clerkContext.newPage(), reference);

    // 3. Told by email and SMS: the category, never the clerk's words.
    const mail = await newestMessage(outbox, me.email, (m) => m.subject.includes('refusée'));
    const sms = await newestMessage(outbox, me.e164, (m) => m.text.includes('refusée'));
    for (const message of [mail, sms]) {
      assert.ok(message.text.includes(CATEGORY), `the category in: ${message.text}`);
      assert.ok(!message.text.includes('Leroy') && !message.text.includes('prénom absent'), message.text);
      assert.ok(message.text.includes(`${env.issuer}/compte`), message.text);
    }

    // 4. Later, on the phone, logged in again.
    const citizen = await later.newPage();
    await citizen.goto(`${env.issuer}/compte/connexion`);
    await citizen.getByLabel('Adresse électronique').fill(me.email);
    await citizen.getByLabel('Mot de passe', { exact: true }).fill(PASSWORD);
    await citizen.getByRole('button', { name: 'Se connecter' }).click();
    await expectAt(citizen, env.issuer, '/compte');
    await expectText(citizen, 'Vérification refusée', CATEGORY);
    assert.ok(!(await citizen.content()).includes('Leroy'), 'the agent stays unnamed');
    await expectNoHorizontalScroll(citizen);
    await shot(citizen, JOURNEY, 'account-refused');

    await citizen.getByRole('link', { name: 'Corriger mes informations' }).click();
    await expectAt(citizen, env.issuer, '/inscription/identite');
    assert.equal(await citizen.getByLabel('Nom de naissance').inputValue(), 'Durand');
    assert.equal(await citizen.getByLabel('Prénoms').inputValue(), 'Camille Marie');
    assert.equal(await citizen.getByLabel('Date de naissance').inputValue(), '1990-04-12');
    assert.equal(await citizen.getByLabel('Numéro de la pièce').inputValue(), me.card);
    assert.ok(await citizen.getByLabel('Féminin').isChecked());
    await expectNoHorizontalScroll(citizen);
    await shot(citizen, JOURNEY, 'identity-prefilled');

    await citizen.getByLabel('Prénoms').fill('Camille');
    await citizen.getByRole('button', { name: 'Vérifier mes informations' }).click();
    await expectAt(citizen, env.issuer, '/inscription/recapitulatif');
    await expectText(citizen, 'Camille');
    await citizen.getByRole('button', { name: 'Je confirme' }).click();
    await expectAt(citizen, env.issuer, '/inscription/verification');
    await citizen.getByRole('button', { name: 'En bureau de poste' }).click();
    await expectAt(citizen, env.issuer, '/inscription/reference');
    const fresh = (await citizen.locator('p.reference').innerText()).trim();
    assert.match(fresh, /^[0-9A-Z]{8}$/);
    assert.notEqual(fresh, reference, 'a new reference');
    await expectNoHorizontalScroll(citizen);
    await shot(citizen, JOURNEY, 'new-reference');

    await citizen.goto(`${env.issuer}/compte`);
    await expectText(citizen, fresh);
    assert.equal(await citizen.getByRole('link', { name: 'Corriger mes informations' }).count(), 0);
    await shot(citizen, JOURNEY, 'account-new-request');
  } finally {
    await later.close();
    await clerkContext.close();
    await enrolling.close();
  }
});
