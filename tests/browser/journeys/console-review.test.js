// The agents' console, online queue: a reviewer clears one remote request.
//
// 1. A citizen (phone size) enrols up to the choice of verification, picks
//    "En ligne", sends the two photos and the video through the file forms.
// 2. The reviewer created by run.sh logs in (password, TOTP enrolment) and
//    replaces the initial password first (nothing else opens before).
// 3. The request shows the declared document (type, number, validity) next to
//    the checks; a refusal without its reason comes back as filled in; a
//    refusal goes to a confirmation page ("Confirmer le refus de …") whose
//    "Revenir à la demande" keeps what was entered; the reviewer then
//    verifies, confirms, and the queue's notice names the citizen; the home
//    page lists the decision.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { env, expectAt, expectText, frenchContext, launch, shot } from '../lib/browser.js';
import { chooseOwnPassword, totp } from '../lib/console.js';
import { codeFor, isoDate, PASSWORD, person } from '../lib/enrol.js';

const JOURNEY = 'console-review';
const DESKTOP = { viewport: { width: 1280, height: 800 } };
const PHONE = { viewport: { width: 360, height: 740 } };
const CHOSEN = 'Revue-En-Ligne-Chaque-Jour';

let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

function reviewer() {
  const value = (name) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set: run the journeys with tests/browser/run.sh`);
    return v;
  };
  return {
    url: value('SESAME_CONSOLE_URL'),
    username: value('REVIEWER_USERNAME'),
    password: value('REVIEWER_PASSWORD'),
  };
}

/** The `<dd>` following the `<dt>` named `term`. */
async function described(page, term) {
  const escaped = term.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const dd = page.locator('dl.summary dt', { hasText: new RegExp(`^${escaped}$`) }).locator('xpath=following-sibling::dd[1]');
  assert.equal(await dd.count(), 1, `one «${term}» in the summary of ${page.url()}`);
  return (await dd.innerText()).trim();
}

async function alertText(page) {
  const alert = page.getByRole('alert');
  await alert.waitFor();
  return (await alert.innerText()).trim();
}

/** Enrols `me` up to the online verification, then sends photos and video. */
async function enrolOnline(page, outbox, me) {
  await page.goto(`${env.issuer}/`);
  await page.getByRole('link', { name: 'Créer mon identité numérique' }).click();
  await expectAt(page, env.issuer, '/inscription');
  await page.getByLabel("J'ai 18 ans ou plus.").check();
  await page.getByLabel('smartphone').check();
  await page.getByLabel("J'ai une carte d'identité française").check();
  await page.getByRole('button', { name: 'Commencer' }).click();
  await page.getByLabel('Adresse électronique').fill(me.email);
  await page.getByRole('button', { name: 'Recevoir le code' }).click();
  await page.getByLabel('Code à 6 chiffres').fill(await codeFor(outbox, me.email));
  await page.getByRole('button', { name: 'Valider' }).click();
  await page.getByLabel('Mot de passe', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Confirmez le mot de passe').fill(PASSWORD);
  await page.getByRole('button', { name: 'Créer mon compte' }).click();
  await page.getByLabel('Numéro de téléphone portable').fill(me.mobile);
  await page.getByRole('button', { name: 'Recevoir le code' }).click();
  await page.getByLabel('Code à 6 chiffres').fill(await codeFor(outbox, me.e164));
  await page.getByRole('button', { name: 'Valider' }).click();
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
  await page.getByRole('button', { name: 'Je confirme' }).click();
  await expectAt(page, env.issuer, '/inscription/verification');
  await page.getByRole('button', { name: 'En ligne' }).click();

  await expectAt(page, env.issuer, '/inscription/en-ligne');
  const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2044, 9)]);
  const png = Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), Buffer.alloc(1016, 3)]);
  await page.getByLabel('Recto').setInputFiles({ name: 'recto.jpg', mimeType: 'image/jpeg', buffer: jpeg });
  await page.getByLabel('Verso').setInputFiles({ name: 'verso.png', mimeType: 'image/png', buffer: png });
  await page.getByRole('button', { name: 'Envoyer les photos' }).click();
  await expectAt(page, env.issuer, '/inscription/en-ligne/video');
  const webm = Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3]), Buffer.alloc(4092, 5)]);
  await page.locator('#video').setInputFiles({ name: 'video.webm', mimeType: 'video/webm', buffer: webm });
  await page.getByRole('button', { name: 'Envoyer la vidéo' }).click();
  await page.waitForURL((url) => !url.pathname.endsWith('/inscription/en-ligne/video'));
}

test('a reviewer clears an online request: document shown, refusal confirmed or taken back, verification confirmed', async () => {
  const agent = reviewer();
  const me = person();
  const citizen = await frenchContext(browser, PHONE);
  const reviewerContext = await frenchContext(browser, DESKTOP);
  try {
    const page = await citizen.newPage();
    const outbox = await citizen.newPage();
    await enrolOnline(page, outbox, me);

    // 2. First login of the reviewer.
    const r = await reviewerContext.newPage();
    await r.goto(`${agent.url}/connexion`);
    await r.getByLabel('Identifiant').fill(agent.username);
    await r.getByLabel('Mot de passe').fill(agent.password);
    await r.getByRole('button', { name: 'Continuer' }).click();
    await expectAt(r, agent.url, '/totp');
    const secret = (await r.locator('code#totp-secret').innerText()).trim();
    await r.getByLabel("Code à 6 chiffres de votre application d'authentification").fill(totp(secret));
    await r.getByRole('button', { name: 'Valider' }).click();
    await expectAt(r, agent.url, '/mon-compte');
    await r.goto(`${agent.url}/revue`);
    await expectAt(r, agent.url, '/mon-compte');
    await chooseOwnPassword(r, agent.password, CHOSEN);
    await r.getByRole('link', { name: "Aller à l'accueil" }).click();
    await expectAt(r, agent.url, '/');

    // 3. The queue, the request (ours is the newest: the last one).
    await r.getByRole('link', { name: 'Demandes de vérification en ligne' }).click();
    await expectAt(r, agent.url, '/revue');
    await r.locator('main ul li a').last().click();
    assert.equal(await described(r, 'Nom de naissance'), 'Durand');
    assert.equal(await described(r, 'Type'), "Carte nationale d'identité");
    assert.equal(await described(r, 'Numéro'), me.card);
    assert.match(await described(r, 'Validité'), /^du \d\d\/\d\d\/\d{4} au \d\d\/\d\d\/\d{4}$/);
    // The photos stay inside the card.
    const card = await r.locator('main').boundingBox();
    for (const img of await r.locator('main img').all()) {
      const box = await img.boundingBox();
      assert.ok(box && box.x >= card.x && box.x + box.width <= card.x + card.width + 1, 'photo inside the card');
    }
    await shot(r, JOURNEY, 'review-request');

    // A refusal without its reason: the form comes back as filled in.
    const category = r.getByLabel('Motif communiqué à la personne (en cas de refus)');
    const reason = r.getByLabel('Motif (obligatoire en cas de refus)');
    await r.getByLabel('La photo correspond à la personne').check();
    await category.selectOption('document');
    await r.getByRole('button', { name: 'Refuser' }).click();
    assert.equal(await alertText(r), 'Indiquez le motif du refus.');
    assert.equal(await category.inputValue(), 'document');
    assert.equal(await r.getByLabel('La photo correspond à la personne').isChecked(), true);
    await shot(r, JOURNEY, 'review-reason-missing');

    // A refusal is confirmed first; "Revenir à la demande" keeps what was entered.
    await reason.fill('recto flou');
    await r.getByRole('button', { name: 'Refuser' }).click();
    assert.equal((await r.locator('h1').innerText()).trim(), 'Confirmer le refus de Camille Marie Durand');
    assert.equal(await described(r, 'Motif communiqué à la personne'), 'Pièce non valable, illisible ou expirée');
    assert.equal(await described(r, 'Motif (journal)'), 'recto flou');
    await shot(r, JOURNEY, 'review-confirm-refusal');
    await r.getByRole('button', { name: 'Revenir à la demande' }).click();
    assert.equal(await described(r, 'Numéro'), me.card, 'back on the request');
    assert.equal(await reason.inputValue(), 'recto flou');
    assert.equal(await category.inputValue(), 'document');

    // Verified after all: confirmed, then the queue says so.
    await reason.fill('');
    for (const label of [
      'La pièce paraît authentique et en cours de validité',
      'Les informations correspondent à la pièce',
    ]) await r.getByLabel(label).check();
    await r.getByRole('button', { name: 'Identité vérifiée' }).click();
    assert.equal(
      (await r.locator('h1').innerText()).trim(),
      "Confirmer la vérification de l'identité de Camille Marie Durand",
    );
    await shot(r, JOURNEY, 'review-confirm-verification');
    await r.getByRole('button', { name: 'Confirmer la vérification' }).click();
    // The queue, rendered in answer to the post.
    await r.locator('h1', { hasText: 'Vérifications en ligne' }).waitFor();
    const notice = r.getByRole('status');
    await notice.waitFor();
    assert.ok(
      (await notice.innerText()).trim().startsWith('Identité vérifiée : Camille Marie Durand (demande en ligne).'),
      await notice.innerText(),
    );
    await shot(r, JOURNEY, 'review-verified');
    await r.goto(`${agent.url}/`);
    await expectText(r, 'Mes décisions du jour', 'Vérifiée (en ligne)');
    await shot(r, JOURNEY, 'review-home-today');

    // The citizen is verified.
    await page.goto(`${env.issuer}/compte`);
    await expectText(page, 'Identité vérifiée');
  } finally {
    await reviewerContext.close();
    await citizen.close();
  }
});
