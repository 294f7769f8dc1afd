// Creating a digital identity, up to the face-to-face reference.
//
// 1. On a phone-sized screen, in French: from the home page through the eight
//    steps (eligibility, email, email code, password, mobile, mobile code,
//    document, identity, summary), one bad input on each data page (invalid
//    email, wrong code, short password, landline, under-18 birth date), then
//    the post-office verification: the reference page, the email carrying
//    the reference, the account page, and the cancellation of the request.
// 2. In a browser speaking British English: the eligibility and email pages
//    are in English.
// 3. On a 360×740 phone with Chromium's fake camera: the home page's steps
//    and the help page of the "Besoin d'aide ?" footer, then an enrolment
//    that changes its mind (face-to-face request cancelled) and verifies
//    online: photos, then the video recorded in a type the browser supports,
//    with its timer, played back, recorded again up to the maximum length
//    (stopped by itself), sent; the confirmation page and its email.
//
// Codes are not sent in dev mode: they are read from /dev/outbox, newest
// first, picking the newest message for this run's unique email or mobile.
// Each test uses its own browser context and its own addresses.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CAMERA,
  env,
  expectAt,
  expectNoHorizontalScroll,
  expectText,
  frenchContext,
  launch,
  shot,
} from '../lib/browser.js';
import { PASSWORD, codeFor, enrolToReference, isoDate, newestMessage, person } from '../lib/enrol.js';

const JOURNEY = 'enrolment';
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Asserts the step progress line. */
async function expectStep(page, n) {
  assert.equal((await page.locator('p.progress').innerText()).trim(), `Étape ${n} sur 11`);
}

/** The text of a field's error (`<p id="<field>-error">`), linked by aria-describedby. */
async function fieldError(page, input) {
  assert.equal(await input.getAttribute('aria-invalid'), 'true');
  const id = await input.getAttribute('aria-describedby');
  assert.ok(id, 'an invalid field should be described by its error');
  return (await page.locator(`[id="${id}"]`).innerText()).trim();
}

/**
 * The tab stops from the heading to the first button, in order, consecutive
 * duplicates (the day, month and year of a date input) merged.
 */
async function tabStops(page) {
  await page.locator('h1').click();
  const stops = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    const stop = await page.evaluate(() => {
      const el = document.activeElement;
      return el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}:${el.textContent.trim()}`;
    });
    if (stops.at(-1) !== stop) stops.push(stop);
    if (stop.startsWith('button:')) break;
  }
  return stops;
}

test('on a phone, in French: enrol up to the post-office reference, then cancel it', async () => {
  const me = person();
  const context = await frenchContext(browser, PHONE);
  const page = await context.newPage();
  const outbox = await context.newPage();
  try {
    // Home page.
    await page.goto(`${env.issuer}/`);
    assert.equal(await page.locator('html').getAttribute('lang'), 'fr');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'home');
    await page.getByRole('link', { name: 'Créer mon identité numérique' }).click();

    // 1. Eligibility: the three conditions are required.
    await expectAt(page, env.issuer, '/inscription');
    await expectStep(page, 1);
    await page.getByLabel("J'ai 18 ans ou plus.").check();
    await page.getByLabel('smartphone').check();
    await shot(page, JOURNEY, 'eligibility');
    await page.getByRole('button', { name: 'Commencer' }).click();
    await page.getByRole('alert').waitFor();
    await expectText(page, 'Vous devez remplir ces trois conditions pour créer une identité numérique.');
    assert.ok(await page.getByLabel("J'ai 18 ans ou plus.").isChecked(), 'ticked boxes are kept');
    await shot(page, JOURNEY, 'eligibility-incomplete');
    await page.getByLabel("J'ai une carte d'identité française").check();
    await page.getByRole('button', { name: 'Commencer' }).click();

    // 2. Email: an invalid address first.
    await expectAt(page, env.issuer, '/inscription/courriel');
    await expectStep(page, 2);
    const email = page.getByLabel('Adresse électronique');
    await email.fill('camille.exemple.fr');
    await page.getByRole('button', { name: 'Recevoir le code' }).click();
    await expectAt(page, env.issuer, '/inscription/courriel');
    assert.equal(
      await fieldError(page, email),
      'Saisissez une adresse électronique valide, par exemple nom@exemple.fr.',
    );
    assert.equal(await email.inputValue(), 'camille.exemple.fr');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'email-invalid');
    await email.fill(me.email);
    await page.getByRole('button', { name: 'Recevoir le code' }).click();

    // 3. Email code: a wrong one, then the one in the outbox.
    await expectAt(page, env.issuer, '/inscription/courriel/code');
    await expectStep(page, 3);
    await expectText(page, `Un code à 6 chiffres a été envoyé à ${me.email}.`);
    // A typo in the address is corrected from the code page: the address
    // comes back filled in.
    await page.getByRole('link', { name: "Modifier l'adresse électronique" }).click();
    await expectAt(page, env.issuer, '/inscription/courriel');
    assert.equal(await page.getByLabel('Adresse électronique').inputValue(), me.email);
    await page.goBack();
    await expectAt(page, env.issuer, '/inscription/courriel/code');
    const emailCode = await codeFor(outbox, me.email);
    const code = page.getByLabel('Code à 6 chiffres');
    assert.equal(await code.getAttribute('autocomplete'), 'one-time-code');
    assert.equal(await code.getAttribute('inputmode'), 'numeric');
    await code.fill(String((Number(emailCode) + 1) % 1_000_000).padStart(6, '0'));
    await page.getByRole('button', { name: 'Valider' }).click();
    assert.equal(await fieldError(page, page.getByLabel('Code à 6 chiffres')), 'Code incorrect. Il vous reste 4 essai(s).');
    await shot(page, JOURNEY, 'email-code-wrong');
    await page.getByLabel('Code à 6 chiffres').fill(emailCode);
    await page.getByRole('button', { name: 'Valider' }).click();

    // 4. Password: too short, then a good one.
    await expectAt(page, env.issuer, '/inscription/mot-de-passe');
    await expectStep(page, 4);
    await page.getByLabel('Mot de passe', { exact: true }).fill('Court-1!');
    await page.getByLabel('Confirmez le mot de passe').fill('Court-1!');
    await page.getByRole('button', { name: 'Créer mon compte' }).click();
    assert.equal(
      await fieldError(page, page.getByLabel('Mot de passe', { exact: true })),
      'Le mot de passe doit contenir au moins 12 caractères.',
    );
    assert.equal(await page.getByLabel('Mot de passe', { exact: true }).inputValue(), '', 'passwords are not sent back');
    await shot(page, JOURNEY, 'password-too-short');
    await page.getByLabel('Mot de passe', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Confirmez le mot de passe').fill(PASSWORD);
    await page.getByRole('button', { name: 'Créer mon compte' }).click();

    // 5. Mobile: a landline, then a mobile.
    await expectAt(page, env.issuer, '/inscription/mobile');
    await expectStep(page, 5);
    const mobile = page.getByLabel('Numéro de téléphone portable');
    assert.equal(await mobile.getAttribute('type'), 'tel');
    await mobile.fill('01 42 00 00 00');
    await page.getByRole('button', { name: 'Recevoir le code' }).click();
    assert.equal(await fieldError(page, mobile), "Ce numéro n'est pas un numéro de téléphone portable.");
    assert.equal(await mobile.inputValue(), '01 42 00 00 00');
    await shot(page, JOURNEY, 'mobile-landline');
    await mobile.fill(me.mobile);
    await page.getByRole('button', { name: 'Recevoir le code' }).click();

    // 6. Mobile code (the number is shown masked).
    await expectAt(page, env.issuer, '/inscription/mobile/code');
    await expectStep(page, 6);
    assert.equal(
      await page.getByRole('link', { name: 'Modifier le numéro' }).getAttribute('href'),
      '/inscription/mobile',
    );
    await expectText(page, `Un code à 6 chiffres a été envoyé à 06 ** ** ** ${me.e164.slice(-2)}.`);
    // Asking again within the minute: the code page again, with the seconds
    // left as a calm notice (no error), and the code can be typed there.
    await page.getByRole('button', { name: 'Renvoyer un code' }).click();
    await expectAt(page, env.issuer, '/inscription/mobile/renvoyer');
    assert.match(
      (await page.getByRole('status').innerText()).trim(),
      /^Vous pourrez demander un nouveau code dans \d+ secondes\.$/,
    );
    assert.equal(await page.getByRole('alert').count(), 0);
    await shot(page, JOURNEY, 'mobile-code-wait');
    await page.getByLabel('Code à 6 chiffres').fill(await codeFor(outbox, me.e164));
    await shot(page, JOURNEY, 'mobile-code');
    await page.getByRole('button', { name: 'Valider' }).click();

    // 7. Document kind.
    await expectAt(page, env.issuer, '/inscription/piece');
    await expectStep(page, 7);
    await page.getByLabel("Carte nationale d'identité française").check();
    await shot(page, JOURNEY, 'document-kind');
    await page.getByRole('button', { name: 'Continuer' }).click();

    // 8. Identity: a 17-year-old birth date first.
    await expectAt(page, env.issuer, '/inscription/identite');
    await expectStep(page, 8);
    await page.getByLabel('Nom de naissance').fill('Durand');
    await page.getByLabel("Nom d'usage").fill('');
    await page.getByLabel('Prénoms').fill('Camille Marie');
    await page.getByLabel('Féminin').check();
    await page.getByLabel('Date de naissance').fill(isoDate({ years: -17 }));
    await page.getByLabel('Pays de naissance').selectOption('99100');
    await page.getByLabel('Commune de naissance').fill('69123');
    await page.getByLabel('Numéro de la pièce').fill(me.card);
    await page.getByLabel('Date de délivrance').fill(isoDate({ years: -2 }));
    await page.getByLabel("Date d'expiration").fill(isoDate({ years: 13, days: -1 }));
    await expectNoHorizontalScroll(page);
    assert.deepEqual(await tabStops(page), [
      '#family_name',
      '#usage_name',
      '#given_names',
      '#gender-female',
      '#birthdate',
      '#birth_country',
      '#birth_commune',
      '#document_number',
      '#issued_on',
      '#expires_on',
      'button:Vérifier mes informations',
    ]);
    await shot(page, JOURNEY, 'identity-filled');
    await page.getByRole('button', { name: 'Vérifier mes informations' }).click();

    await expectAt(page, env.issuer, '/inscription/identite');
    assert.equal(
      (await page.getByRole('alert').innerText()).trim(),
      'Certaines informations sont à corriger.',
    );
    const birthdate = page.getByLabel('Date de naissance');
    assert.equal(await fieldError(page, birthdate), 'Il faut avoir 18 ans ou plus pour créer une identité numérique.');
    // Everything else is kept, and not marked invalid.
    assert.equal(await page.getByLabel('Nom de naissance').inputValue(), 'Durand');
    assert.equal(await page.getByLabel('Prénoms').inputValue(), 'Camille Marie');
    assert.ok(await page.getByLabel('Féminin').isChecked());
    assert.equal(await page.getByLabel('Pays de naissance').inputValue(), '99100');
    // The commune typed as a code is shown back by name.
    assert.equal(await page.getByLabel('Commune de naissance').inputValue(), 'Lyon (69123)');
    assert.equal(await page.getByLabel('Numéro de la pièce').inputValue(), me.card);
    assert.equal(await page.getByLabel('Date de délivrance').inputValue(), isoDate({ years: -2 }));
    assert.equal(await page.locator('[aria-invalid="true"]').count(), 1);
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'identity-underage');
    await birthdate.fill('1990-04-12');
    // The birthplace by postal code: 69003 serves Lyon and its 3rd
    // arrondissement, and is Albigny-sur-Saône's INSEE code.
    await page.getByLabel('Commune de naissance').fill('69003');
    await page.getByRole('button', { name: 'Vérifier mes informations' }).click();
    await expectAt(page, env.issuer, '/inscription/identite');
    const byPostal = page.getByRole('group', { name: 'Choisissez votre commune' });
    assert.equal(await byPostal.getByRole('radio').count(), 3, 'two communes served, one by its INSEE code');
    assert.ok(await byPostal.getByLabel('Lyon 3e Arrondissement (69)').isVisible());
    assert.ok(await byPostal.getByLabel('Albigny-sur-Saône (69)').isVisible());
    await shot(page, JOURNEY, 'identity-commune-postal-code');
    // With JavaScript, suggestions come as the name is typed (a datalist
    // the server's search fills).
    await page.getByLabel('Commune de naissance').fill('Villeurb');
    await page.locator('#birth_commune-list option[value="Villeurbanne (69266)"]').waitFor({ state: 'attached' });
    // The birthplace by name: Lyon is the city and its arrondissements.
    await page.getByLabel('Commune de naissance').fill('lyon');
    await page.getByRole('button', { name: 'Vérifier mes informations' }).click();
    await expectAt(page, env.issuer, '/inscription/identite');
    assert.equal(
      await fieldError(page, page.getByLabel('Commune de naissance')),
      'Plusieurs communes correspondent à ce nom ou à ce code : choisissez la vôtre ci-dessous.',
    );
    const choices = page.getByRole('group', { name: 'Choisissez votre commune' });
    assert.equal(await choices.getByRole('radio').count(), 10, 'Lyon and its nine arrondissements');
    await choices.getByLabel('Lyon 3e Arrondissement (69)').check();
    await choices.getByLabel('Lyon (69)', { exact: true }).check();
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'identity-commune-choices');
    await page.getByRole('button', { name: 'Vérifier mes informations' }).click();

    // 9. Summary.
    await expectAt(page, env.issuer, '/inscription/recapitulatif');
    await expectStep(page, 9);
    await expectText(
      page,
      'Vérifiez vos informations',
      'Durand',
      'Camille Marie',
      'Féminin',
      '12/04/1990',
      'FRANCE',
      'Lyon (69123)',
      "Carte nationale d'identité française",
      me.card,
    );
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'summary');
    await page.getByRole('button', { name: 'Je confirme' }).click();

    // Verification method: at the post office or at home.
    await expectAt(page, env.issuer, '/inscription/verification');
    await expectText(page, 'Faites vérifier votre identité');
    // One step indicator from eligibility to the verification itself.
    await expectStep(page, 10);
    await shot(page, JOURNEY, 'verification-choice');
    await page.getByRole('button', { name: 'En bureau de poste' }).click();

    // The reference: 8 characters, spelled out for screen readers, with its QR code.
    await expectAt(page, env.issuer, '/inscription/reference');
    await expectText(page, 'Votre demande de vérification est enregistrée');
    await expectStep(page, 11);
    const reference = (await page.locator('p.reference').innerText()).trim();
    assert.match(reference, /^[0-9A-Z]{8}$/);
    assert.ok(await page.locator('p.reference').isVisible());
    assert.equal(await page.locator('p.reference').getAttribute('aria-label'), `Référence ${reference.split('').join(' ')}`);
    const qr = page.getByRole('img', { name: 'QR code de la référence' }).locator('svg');
    await qr.waitFor();
    const box = await qr.boundingBox();
    assert.ok(box && box.width >= 150 && box.width <= 310, `QR code ${box?.width}px wide`);
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'reference');

    // The reference also went out by email.
    const mail = await newestMessage(outbox, me.email);
    assert.equal(mail.subject, `Votre référence Sésame : ${reference}`);
    assert.ok(mail.text.includes(reference), mail.text);

    // The account page follows the request.
    await page.getByRole('link', { name: 'Suivre ma demande dans mon compte' }).click();
    await expectAt(page, env.issuer, '/compte');
    await expectText(page, 'Mon compte Sésame', me.email, 'En attente de vérification en bureau de poste', reference);
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'account-awaiting');

    // Cancelling the request.
    await page.getByRole('button', { name: 'Annuler ma demande de vérification' }).click();
    const notice = page.getByRole('status');
    await notice.waitFor();
    assert.equal((await notice.innerText()).trim(), 'Votre demande de vérification est annulée.');
    const body = await page.locator('body').innerText();
    assert.ok(!body.includes(reference), 'the cancelled reference is no longer shown');
    assert.ok(!body.includes('En attente de vérification en bureau de poste'), body);
    assert.equal(await page.getByRole('button', { name: 'Annuler ma demande de vérification' }).count(), 0);
    await shot(page, JOURNEY, 'account-cancelled');
  } finally {
    await context.close();
  }
});

test('in a browser speaking British English, the first pages are in English', async () => {
  const context = await frenchContext(browser, { locale: 'en-GB' });
  const page = await context.newPage();
  try {
    await page.goto(`${env.issuer}/`);
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    await page.getByRole('link', { name: 'Create my digital identity' }).click();

    await expectAt(page, env.issuer, '/inscription');
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    assert.equal((await page.locator('p.progress').innerText()).trim(), 'Step 1 of 11');
    await expectText(page, 'Create my digital identity', 'First check that you can create a digital identity:');
    await page.getByLabel('I am 18 or older.').check();
    await page.getByLabel('I have a smartphone with a French number.').check();
    await page.getByLabel('I have a valid French identity card').check();
    await shot(page, JOURNEY, 'en-eligibility');
    await page.getByRole('button', { name: 'Start' }).click();

    await expectAt(page, env.issuer, '/inscription/courriel');
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    assert.equal((await page.locator('p.progress').innerText()).trim(), 'Step 2 of 11');
    await expectText(page, 'Your email address', 'We will send you a verification code.');
    const email = page.getByLabel('Email address');
    await email.fill('not-an-address');
    await page.getByRole('button', { name: 'Send me the code' }).click();
    assert.equal(await fieldError(page, email), 'Enter a valid email address, for example name@example.fr.');
    await shot(page, JOURNEY, 'en-email-invalid');
  } finally {
    await context.close();
  }
});

const SMALL_PHONE = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

test('on a 360×740 phone: the home page and help, then the online verification with the camera', async () => {
  const camera = await launch(CAMERA);
  const me = person();
  const context = await frenchContext(camera, SMALL_PHONE);
  const page = await context.newPage();
  const outbox = await context.newPage();
  try {
    // The home page: the four steps, what is needed, where the app is.
    await page.goto(`${env.issuer}/`);
    await expectText(page, 'Sésame, votre identité numérique', 'Comment ça marche', "Ce qu'il vous faut", "Où est l'application ?");
    assert.equal(await page.locator('ol.steps li').count(), 4);
    await expectText(page, 'Activez l\'application Sésame sur votre téléphone', 'une adresse électronique.');
    assert.equal(await page.getByRole('link', { name: "Ouvrir l'application Sésame" }).getAttribute('href'), '/app');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'guide-home');
    // The footer of every page leads to the help page.
    const footer = page.locator('footer');
    await expectText(page, "Besoin d'aide ?");
    await footer.getByRole('link', { name: 'Aide et contact' }).click();
    await expectAt(page, env.issuer, '/aide');
    await expectText(page, 'Une question sur votre identité numérique Sésame ?', 'bureau de poste');
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'guide-help');

    // Enrolled for the post office, the person changes their mind.
    await enrolToReference(page, outbox, me);
    await page.goto(`${env.issuer}/compte`);
    await page.getByRole('button', { name: 'Annuler ma demande de vérification' }).click();
    await page.getByRole('status').waitFor();
    await page.goto(`${env.issuer}/inscription/verification`);
    await page.getByRole('button', { name: 'En ligne' }).click();

    // Photos of the document.
    await expectAt(page, env.issuer, '/inscription/en-ligne');
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(4000)]);
    await page.getByLabel('Recto').setInputFiles({ name: 'recto.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    await page.getByLabel('Verso').setInputFiles({ name: 'verso.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    await page.getByRole('button', { name: 'Envoyer les photos' }).click();

    // The video page: before recording, "Arrêter" is disabled and looks it.
    await expectAt(page, env.issuer, '/inscription/en-ligne/video');
    await expectText(page, 'La vidéo dure au plus 30 secondes');
    const start = page.getByRole('button', { name: "Démarrer l'enregistrement" });
    const stop = page.getByRole('button', { name: "Arrêter l'enregistrement" });
    await start.waitFor();
    assert.ok(await stop.isDisabled());
    const look = (button) => button.evaluate((b) => [getComputedStyle(b).backgroundColor, getComputedStyle(b).cursor]);
    assert.deepEqual(await look(stop), ['rgb(229, 229, 229)', 'not-allowed']);
    assert.notDeepEqual(await look(start), await look(stop));
    assert.equal(
      await page.getByLabel('Ou choisissez une vidéo enregistrée (WebM, MP4 ou MOV)').getAttribute('accept'),
      'video/webm,video/mp4,video/quicktime,.webm,.mp4,.mov',
    );
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'video-before');
    const chosen = await page.evaluate(() =>
      ['video/webm;codecs=vp9,opus', 'video/webm;codecs=vp8,opus', 'video/webm', 'video/mp4;codecs=avc1.42E01E,mp4a.40.2', 'video/mp4'].find(
        (t) => MediaRecorder.isTypeSupported(t),
      ),
    );
    assert.ok(chosen, 'Chromium can record one of the types video.js tries');

    // Recording: the timer runs.
    await start.click();
    await stop.waitFor();
    const timer = page.locator('#timer');
    await timer.waitFor();
    await expectText(page, 'Enregistrement en cours');
    await page.waitForFunction(() => document.getElementById('elapsed').textContent >= '0:02');
    assert.match(await timer.innerText(), /^Durée : 0:0[2-9] \/ 0:30$/);
    await shot(page, JOURNEY, 'video-recording');
    await stop.click();

    // Review: the recording plays back before it is sent.
    const send = page.getByRole('button', { name: 'Envoyer', exact: true });
    const restart = page.getByRole('button', { name: 'Recommencer' });
    await send.waitFor();
    await restart.waitFor();
    await expectText(page, 'Regardez votre vidéo.');
    const playback = page.getByLabel('Votre vidéo');
    assert.ok(await playback.isVisible());
    assert.match(await playback.getAttribute('src'), /^blob:/);
    await page.waitForFunction(() => document.getElementById('playback').readyState >= 1);
    await shot(page, JOURNEY, 'video-review');

    // Again, without stopping: it stops by itself at 30 seconds.
    await restart.click();
    await stop.waitFor();
    await expectText(page, 'Enregistrement en cours');
    await send.waitFor({ timeout: 40_000 });
    await expectText(page, "Durée maximale atteinte : l'enregistrement s'est arrêté.");
    assert.equal(await page.locator('#elapsed').innerText(), '0:30');
    await shot(page, JOURNEY, 'video-max-length');

    // Sent: the confirmation page, and the email.
    await send.click();
    await expectAt(page, env.issuer, '/inscription/en-ligne/envoyee');
    await expectText(
      page,
      'Votre demande de vérification est envoyée',
      'généralement sous 24 heures',
      'Un courriel de confirmation vous a été envoyé.',
    );
    await expectNoHorizontalScroll(page);
    await shot(page, JOURNEY, 'video-sent');
    const mail = await newestMessage(outbox, me.email, (m) => m.subject === 'Votre demande de vérification en ligne est envoyée');
    assert.ok(mail.text.includes('généralement sous 24 heures'), mail.text);
    await page.getByRole('link', { name: 'Suivre ma demande dans mon compte' }).click();
    await expectAt(page, env.issuer, '/compte');
    await expectText(page, 'En attente de vérification en ligne');
  } finally {
    await context.close();
    await camera.close();
  }
});
