// The agents' console (idp-admin serve): a clerk verifies a citizen at the
// counter.
//
// 1. A citizen enrols up to a face-to-face reference (lib/enrol.js).
// 2. In a second browser context, on a desktop, the clerk created by run.sh
//    logs into the console: password, then TOTP enrolment (QR code and key;
//    the code is computed here, RFC 6238).
// 3. In a third context, the same code is replayed within its 30 s step: the
//    console refuses it, and the agent stays logged out.
// 3b. First login: the clerk lands on /mon-compte and nothing else opens
//    until the initial password is replaced (two different new passwords are
//    refused first); home then lists no decision of today.
// 4. The clerk finds the request of a citizen who lost the reference (by
//    email, and by name + birth date), then looks the reference up (typed
//    the way a clerk may read it: in lower case, in two groups), checks the
//    identity and document shown and the keyboard order of the decision form,
//    tries to validate with two checks of three and a reason typed (refused:
//    the form comes back as filled in), ticks the third and validates: the
//    notice names the citizen and the reference, and the reference can no
//    longer be used; the home page lists the decision; "Mon compte" changes
//    the password again.
// 5. The citizen's account page shows "Identité vérifiée", and the activation
//    code went out by SMS and email (/dev/outbox).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { env, expectAt, expectText, frenchContext, launch, shot } from '../lib/browser.js';
import { chooseOwnPassword, consoleEnv, secondsLeftInStep, totp, totpStep } from '../lib/console.js';
import { enrolToReference, newestMessage, person } from '../lib/enrol.js';

const JOURNEY = 'console';
const DESKTOP = { viewport: { width: 1280, height: 800 } };
const CODE_ERROR = 'Code incorrect ou déjà utilisé.';
const CHOSEN = 'Guichet-Lyon-Presqu-Ile';
const LATER = 'Fourviere-Le-Matin-Tot';

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
    // First login: the initial password must be replaced before anything else.
    await expectAt(agent, consoleUrl, '/mon-compte');
    await expectText(agent, 'Choisissez votre mot de passe', 'Claire Martin (guichet, LYON01)');
    await shot(agent, JOURNEY, 'first-login-password');

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

    // 3b. The agent, still on /mon-compte: nothing else opens yet.
    await agent.goto(`${consoleUrl}/guichet`);
    await expectAt(agent, consoleUrl, '/mon-compte');
    await agent.getByLabel('Mot de passe initial').fill(clerk.password);
    await agent.getByLabel('Nouveau mot de passe', { exact: true }).fill(CHOSEN);
    await agent.getByLabel('Nouveau mot de passe, à nouveau').fill(`${CHOSEN}x`);
    await agent.getByRole('button', { name: 'Changer le mot de passe' }).click();
    assert.equal(await alertText(agent), 'Les deux nouveaux mots de passe sont différents.');
    await shot(agent, JOURNEY, 'first-login-password-mismatch');
    await chooseOwnPassword(agent, clerk.password, CHOSEN);
    assert.equal(
      (await agent.getByRole('status').innerText()).trim(),
      'Mot de passe changé. Vos autres sessions de la console sont fermées.',
    );
    await shot(agent, JOURNEY, 'first-login-password-changed');
    await agent.getByRole('link', { name: "Aller à l'accueil" }).click();
    await expectAt(agent, consoleUrl, '/');
    await expectText(agent, 'Claire Martin (guichet, LYON01)', 'Mes décisions du jour', "Aucune décision aujourd'hui.");
    await shot(agent, JOURNEY, 'home');

    // 4. A citizen who lost the reference: found by email, or by name and birth date.
    await agent.getByRole('link', { name: 'Vérifier une identité au guichet' }).click();
    await expectAt(agent, consoleUrl, '/guichet');
    await agent.getByRole('link', { name: /^Référence perdue/ }).click();
    await expectAt(agent, consoleUrl, '/guichet/recherche');
    await agent.getByLabel('Adresse électronique').fill(me.email);
    await agent.getByRole('button', { name: 'Rechercher la demande' }).click();
    const found = agent.locator('ul.found a');
    assert.equal(await found.count(), 1, 'one request for this email');
    assert.equal((await found.innerText()).trim(), 'Camille Marie Durand, né(e) le 12/04/1990');
    assert.equal(await found.getAttribute('href'), `/guichet?reference=${reference}`);
    await shot(agent, JOURNEY, 'counter-search-email');
    await agent.goto(`${consoleUrl}/guichet/recherche`);
    await agent.getByLabel('Nom de naissance').fill('durand');
    await agent.getByLabel('Date de naissance').fill('1990-04-12');
    await agent.getByRole('button', { name: 'Rechercher la demande' }).click();
    // Other journeys' citizens share the name: ours is listed, or the clerk is
    // asked to narrow the search down (more than 5).
    const byName = await agent.locator(`ul.found a[href="/guichet?reference=${reference}"]`).count();
    if (byName === 0) assert.match(await alertText(agent), /^Plus de 5 personnes correspondent/);
    await shot(agent, JOURNEY, 'counter-search-name');
    await agent.goto(`${consoleUrl}/guichet`);

    // The counter: look the reference up as typed from the citizen's phone.
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

    // Validating with two checks of three is refused; the form comes back as filled in.
    await agent.getByLabel(checks[0]).check();
    await agent.getByLabel(checks[2]).check();
    await agent.getByLabel('Motif communiqué à la personne (en cas de refus)').selectOption('person');
    await agent.getByLabel('Motif (obligatoire en cas de refus)').fill('à revoir');
    await agent.getByRole('button', { name: 'Identité vérifiée' }).click();
    assert.equal(await alertText(agent), "Cochez les trois contrôles avant de valider l'identité.");
    assert.equal((await agent.locator('h1').innerText()).trim(), `Référence ${reference}`);
    assert.equal(await agent.getByLabel(checks[0]).isChecked(), true);
    assert.equal(await agent.getByLabel(checks[1]).isChecked(), false);
    assert.equal(await agent.getByLabel(checks[2]).isChecked(), true);
    assert.equal(await agent.getByLabel('Motif communiqué à la personne (en cas de refus)').inputValue(), 'person');
    assert.equal(await agent.getByLabel('Motif (obligatoire en cas de refus)').inputValue(), 'à revoir');
    await shot(agent, JOURNEY, 'counter-unchecked');

    await agent.getByLabel(checks[1]).check();
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
      `Identité vérifiée : Camille Marie Durand, référence ${reference}. Le code d'activation de l'application est envoyé par SMS et par courriel.`,
    );
    assert.equal(await notice.getAttribute('class'), 'success', 'a prominent notice');
    await shot(agent, JOURNEY, 'counter-verified');

    // The reference cannot be used again.
    await agent.getByLabel('Référence (8 caractères, ou scannez le QR code)').fill(reference);
    await agent.getByRole('button', { name: 'Rechercher' }).click();
    assert.equal(await alertText(agent), 'Cette référence a déjà été traitée ou annulée.');
    await shot(agent, JOURNEY, 'counter-reference-used');

    // Today's decisions on the home page; "Mon compte" changes the password again.
    await agent.goto(`${consoleUrl}/`);
    const row = agent.locator('table.today tbody tr', { hasText: reference });
    assert.equal(await row.count(), 1, 'the decision is listed');
    assert.match((await row.innerText()).replace(/\s+/g, ' '), new RegExp(`^\\d\\d:\\d\\d ${reference} Camille Marie Durand Vérifiée \\(au guichet\\)$`));
    await shot(agent, JOURNEY, 'home-today');
    await agent.getByRole('link', { name: 'Mon compte (mot de passe)' }).click();
    await expectAt(agent, consoleUrl, '/mon-compte');
    await agent.getByLabel('Mot de passe actuel').fill(CHOSEN);
    await agent.getByLabel('Nouveau mot de passe', { exact: true }).fill(LATER);
    await agent.getByLabel('Nouveau mot de passe, à nouveau').fill(LATER);
    await shot(agent, JOURNEY, 'my-account');
    await agent.getByRole('button', { name: 'Changer le mot de passe' }).click();
    await expectText(agent, 'Mot de passe changé.');

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
