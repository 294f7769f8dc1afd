// The agents' console (idp-admin serve): a clerk verifies a citizen at the
// counter.
//
// 1. A citizen enrols up to a face-to-face reference (lib/enrol.js).
// 2. In a second browser context, on a desktop, the clerk created by run.sh
//    logs into the console: password, then TOTP enrolment (QR code and key;
//    the code is computed here, RFC 6238).
// 3. In a third context, the same code is replayed within its 30 s step: the
//    console refuses it, and the agent stays logged out.
// 4. The clerk looks the reference up (typed the way a clerk may read it: in
//    lower case, in two groups), checks the identity and document shown and
//    the keyboard order of the decision form, tries to validate without
//    ticking the checks (refused), ticks the three
//    checks and validates: the notice confirms, and the reference can no
//    longer be used.
// 5. The citizen's account page shows "Identité vérifiée", and the activation
//    code went out by SMS and email (/dev/outbox).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { env, expectAt, expectText, frenchContext, launch, shot } from '../lib/browser.js';
import { consoleEnv, secondsLeftInStep, totp, totpStep } from '../lib/console.js';
import { enrolToReference, newestMessage, person } from '../lib/enrol.js';

const JOURNEY = 'console';
const DESKTOP = { viewport: { width: 1280, height: 800 } };
const CODE_ERROR = 'Code incorrect ou déjà utilisé.';

let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** The `<dd>` following the `<dt>` named `term`, in the page's summary lists. */
async function described(page, term) {
  const dd = page.locator('dl.summary dt', { hasText: new RegExp(`^${term}$`) }).locator('xpath=following-sibling::dd[1]');
  assert.equal(await dd.count(), 1, `one «${term}» in the summary of ${page.url()}`);
  return (await dd.innerText()).trim();
}

/** The text of the page's alert (`role="alert"`). */
async function alertText(page) {
  const alert = page.getByRole('alert');
  await alert.waitFor();
  return (await alert.innerText()).trim();
}

/** The tab stops after the page's heading, up to the last button of the page. */
async function tabStops(page) {
  await page.locator('h1').click();
  const stops = [];
  for (let i = 0; i < 20; i++) {
    await page.keyboard.press('Tab');
    const stop = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      return el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}:${el.textContent.trim()}`;
    });
    if (stop === null || stops.includes(stop)) break;
    stops.push(stop);
  }
  return stops;
}

/** Logs in with the clerk's password; the page ends on /totp. */
async function passwordStep(page, consoleUrl, clerk) {
  await page.goto(`${consoleUrl}/connexion`);
  await page.getByLabel('Identifiant').fill(clerk.username);
  await page.getByLabel('Mot de passe').fill(clerk.password);
  await page.getByRole('button', { name: 'Continuer' }).click();
  await expectAt(page, consoleUrl, '/totp');
}

test('a clerk verifies a citizen at the counter; a replayed TOTP code is refused', async () => {
  const { url: consoleUrl, clerk } = consoleEnv();
  const me = person();

  // 1. The citizen, up to the reference.
  const citizen = await frenchContext(browser, DESKTOP);
  const clerkContext = await frenchContext(browser, DESKTOP);
  const replayContext = await frenchContext(browser, DESKTOP);
  try {
    const page = await citizen.newPage();
    const outbox = await citizen.newPage();
    const reference = await enrolToReference(page, outbox, me);

    // 2. The clerk: login page, wrong password first.
    const agent = await clerkContext.newPage();
    await agent.goto(`${consoleUrl}/`);
    await expectAt(agent, consoleUrl, '/connexion');
    assert.equal(await agent.locator('html').getAttribute('lang'), 'fr');
    assert.equal(await agent.title(), 'Connexion — Console des agents Sésame');
    await agent.getByLabel('Identifiant').fill(clerk.username);
    await agent.getByLabel('Mot de passe').fill('pas-le-bon-mot-de-passe');
    await agent.getByRole('button', { name: 'Continuer' }).click();
    assert.equal(await alertText(agent), 'Identifiant ou mot de passe incorrect.');
    assert.equal(await agent.getByLabel('Identifiant').inputValue(), clerk.username, 'the username is kept');
    assert.equal(await agent.getByLabel('Mot de passe').inputValue(), '', 'the password is not sent back');
    await shot(agent, JOURNEY, 'login-wrong-password');
    await passwordStep(agent, consoleUrl, clerk);

    // First login: TOTP enrolment with a QR code and the key.
    await expectText(agent, 'Activer la double authentification', "application d'authentification");
    const qr = agent.locator('div.qr svg');
    await qr.waitFor();
    const box = await qr.boundingBox();
    assert.ok(box && box.width >= 150, `QR code ${box?.width}px wide`);
    const secret = (await agent.locator('code#totp-secret').innerText()).trim();
    assert.match(secret, /^[A-Z2-7]{32}$/, 'a 160-bit base32 key');
    const codeField = agent.getByLabel("Code à 6 chiffres de votre application d'authentification");
    assert.equal(await codeField.getAttribute('autocomplete'), 'one-time-code');
    assert.equal(await codeField.getAttribute('inputmode'), 'numeric');
    await shot(agent, JOURNEY, 'totp-enrolment');

    // The replay below must happen within the same 30 s step as this code.
    if (secondsLeftInStep() < 20) await sleep(secondsLeftInStep() * 1000 + 200);
    const usedStep = totpStep();
    const code = totp(secret, usedStep);
    await codeField.fill(code);
    await agent.getByRole('button', { name: 'Valider' }).click();
    await expectAt(agent, consoleUrl, '/');
    await expectText(agent, 'Claire Martin (guichet, LYON01)');
    await shot(agent, JOURNEY, 'home');

    // 3. The same code, replayed in another browser within its step.
    const replay = await replayContext.newPage();
    await passwordStep(replay, consoleUrl, clerk);
    assert.equal(await replay.locator('#totp-secret').count(), 0, 'the key is shown only before enrolment');
    assert.equal(await replay.locator('div.qr').count(), 0, 'the QR code is shown only before enrolment');
    await replay.getByLabel("Code à 6 chiffres de votre application d'authentification").fill(code);
    await replay.getByRole('button', { name: 'Valider' }).click();
    assert.equal(totpStep(), usedStep, 'the replay happened within the same 30 s step');
    await expectAt(replay, consoleUrl, '/totp');
    assert.equal(await alertText(replay), CODE_ERROR);
    await shot(replay, JOURNEY, 'totp-replayed');
    // Still not logged in.
    await replay.goto(`${consoleUrl}/guichet`);
    await expectAt(replay, consoleUrl, '/totp');

    // 4. The counter: look the reference up as typed from the citizen's phone.
    await agent.getByRole('link', { name: 'Vérifier une identité au guichet' }).click();
    await expectAt(agent, consoleUrl, '/guichet');
    const lookup = agent.getByLabel('Référence (8 caractères, ou scannez le QR code)');
    await shot(agent, JOURNEY, 'counter-lookup');
    await lookup.fill(`${reference.slice(0, 4)} ${reference.slice(4)}`.toLowerCase());
    await agent.getByRole('button', { name: 'Rechercher' }).click();

    await expectAt(agent, consoleUrl, '/guichet');
    assert.equal((await agent.locator('h1').innerText()).trim(), `Référence ${reference}`);
    assert.equal(await described(agent, 'Nom de naissance'), 'Durand');
    assert.equal(await described(agent, 'Prénoms'), 'Camille Marie');
    assert.equal(await described(agent, 'Numéro'), me.card);
    assert.equal(await described(agent, 'Type'), "Carte nationale d'identité");
    const checks = [
      'La pièce paraît authentique et en cours de validité',
      'La photo correspond à la personne',
      'Les informations correspondent à la pièce',
    ];
    for (const label of checks) assert.equal(await agent.getByLabel(label).isChecked(), false, `«${label}» starts unticked`);
    assert.ok(await agent.getByLabel('Au guichet (LYON01)').isChecked(), 'the place defaults to the counter');
    // Keyboard: from the heading, the place (one stop for the radio group),
    // the three checks, the refusal's category and reason, then the two
    // decisions.
    assert.deepEqual(await tabStops(agent), [
      '#p1',
      '#c1',
      '#c2',
      '#c3',
      '#category',
      '#reason',
      'button:Identité vérifiée',
      'button:Refuser',
    ]);
    // The inert default button takes no room: no blank bar above the form.
    const inert = agent.locator('form button[hidden]');
    assert.ok((await inert.count()) > 0, 'the decision form starts with its inert default button');
    assert.equal(await inert.first().boundingBox(), null, 'the inert default button is not laid out');
    await shot(agent, JOURNEY, 'counter-request');

    // Validating without the checks is refused.
    await agent.getByRole('button', { name: 'Identité vérifiée' }).click();
    assert.equal(await alertText(agent), "Cochez les trois contrôles avant de valider l'identité.");
    await shot(agent, JOURNEY, 'counter-unchecked');
    await agent.getByRole('link', { name: 'Revenir à la demande' }).click();
    assert.equal((await agent.locator('h1').innerText()).trim(), `Référence ${reference}`);

    for (const label of checks) await agent.getByLabel(label).check();
    // Enter in the reason field decides nothing (the default button is inert).
    await agent.getByLabel('Motif (obligatoire en cas de refus)').fill('hésitation');
    await agent.getByLabel('Motif (obligatoire en cas de refus)').press('Enter');
    await agent.waitForTimeout(300);
    assert.equal((await agent.locator('h1').innerText()).trim(), `Référence ${reference}`, 'still on the request');
    assert.equal(await agent.getByRole('status').count(), 0, 'no decision recorded');
    await agent.getByLabel('Motif (obligatoire en cas de refus)').fill('');
    await shot(agent, JOURNEY, 'counter-checked');
    await agent.getByRole('button', { name: 'Identité vérifiée' }).click();
    const notice = agent.getByRole('status');
    await notice.waitFor();
    assert.equal(
      (await notice.innerText()).trim(),
      "Identité vérifiée. Le code d'activation de l'application est envoyé par SMS et par courriel.",
    );
    await shot(agent, JOURNEY, 'counter-verified');

    // The reference cannot be used again.
    await agent.getByLabel('Référence (8 caractères, ou scannez le QR code)').fill(reference);
    await agent.getByRole('button', { name: 'Rechercher' }).click();
    assert.equal(await alertText(agent), 'Cette référence a déjà été traitée ou annulée.');
    await shot(agent, JOURNEY, 'counter-reference-used');

    // 5. The citizen's side.
    await page.goto(`${env.issuer}/compte`);
    await expectAt(page, env.issuer, '/compte');
    await expectText(page, 'Identité vérifiée', 'Activez l\'application Sésame avec le code reçu par SMS.');
    // Where the app is, now that there is an identity to activate.
    assert.equal(await page.getByRole('link', { name: "Ouvrir l'application Sésame" }).getAttribute('href'), '/app');
    await shot(page, JOURNEY, 'citizen-account-verified');
    const sms = await newestMessage(outbox, me.e164, (m) => m.text.includes("Code d'activation"));
    const activation = sms.text.match(/Code d'activation de l'application : (\d{6})\b/);
    assert.ok(activation, `an activation code in the SMS: ${sms.text}`);
    const mail = await newestMessage(outbox, me.email, (m) => m.subject === 'Votre identité est vérifiée');
    assert.ok(mail.text.includes(activation[1]), 'the email carries the same activation code');
  } finally {
    await replayContext.close();
    await clerkContext.close();
    await citizen.close();
  }
});
