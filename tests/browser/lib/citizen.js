// A citizen of their own with an activated app, for the journeys that must
// not touch the demo citizen (blocking, fraud reports): enrolled in the
// browser up to the face-to-face reference (lib/enrol.js), verified with
// `idp-admin verify` (the CLI the console automates; run.sh passes its path
// as IDP_ADMIN and the server's configuration in the environment), then the
// app activated on a phone-sized page with the code read in the SMS outbox.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { env, frenchContext } from './browser.js';
import { PHONE, fillActivation, openApp } from './app.js';
import { PASSWORD, enrolToReference, newestMessage, person } from './enrol.js';

export const PIN = '4831';

/** Records the face-to-face verification of `reference` as the run's clerk. */
function verifyAtCounter(reference) {
  const admin = process.env.IDP_ADMIN;
  const clerk = process.env.CLERK_USERNAME;
  assert.ok(admin && clerk, 'IDP_ADMIN and CLERK_USERNAME are set by run.sh');
  execFileSync(admin, ['verify', '--reference', reference, '--office', 'LYON01', '--agent', clerk, '--decision', 'verified'], {
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * A new verified citizen whose app is activated on a phone context: returns
 * { me, phone, app, outbox } (close `phone` when done; `outbox` is a page of it).
 */
export async function citizenWithApp(browser) {
  const me = person();
  const enrolling = await frenchContext(browser, PHONE);
  let reference;
  try {
    const page = await enrolling.newPage();
    const outbox = await enrolling.newPage();
    reference = await enrolToReference(page, outbox, me);
  } finally {
    await enrolling.close();
  }
  verifyAtCounter(reference);
  const phone = await frenchContext(browser, PHONE);
  const app = await phone.newPage();
  const outbox = await phone.newPage();
  const sms = await newestMessage(outbox, me.e164, (m) => m.text.includes("Code d'activation"));
  const code = sms.text.match(/Code d'activation de l'application : (\d{6})\b/)?.[1];
  assert.ok(code, `an activation code in the SMS: ${sms.text}`);
  await openApp(app);
  await app.getByTestId('activation-screen').waitFor();
  await fillActivation(app, { email: me.email, password: PASSWORD, code, pin: PIN, name: 'Téléphone de Camille' });
  await app.getByTestId('activation-submit').click();
  await app.getByTestId('waiting-screen').waitFor();
  return { me, phone, app, outbox };
}

/** Logs in at /compte/connexion with the citizen's password; ends on /compte. */
export async function accountLogin(page, me) {
  await page.goto(`${env.issuer}/compte/connexion`);
  await page.getByLabel('Adresse électronique').fill(me.email);
  await page.getByLabel('Mot de passe', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.waitForURL((url) => url.pathname === '/compte');
}
