// Helpers of the agents' console journeys (idp-admin serve, started by
// run.sh with one clerk agent): its URL and the clerk's credentials, and TOTP
// codes (RFC 6238) computed here as an authenticator app would.
import { createHmac } from 'node:crypto';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the journeys with tests/browser/run.sh`);
  return value;
}

/** The console's URL and the clerk created by run.sh (read when called). */
export function consoleEnv() {
  return {
    url: required('SESAME_CONSOLE_URL'),
    clerk: { username: required('CLERK_USERNAME'), password: required('CLERK_PASSWORD') },
  };
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 (padding, spaces and case ignored) to bytes. */
export function base32Decode(text) {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const out = [];
  let buffer = 0;
  let bits = 0;
  for (const c of clean) {
    const v = BASE32.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${JSON.stringify(c)} in ${JSON.stringify(text)}`);
    buffer = ((buffer << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((buffer >> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The TOTP time step (30 s) of a time in milliseconds. */
export function totpStep(ms = Date.now()) {
  return Math.floor(ms / 1000 / 30);
}

/** Seconds left in the current 30 s step. */
export function secondsLeftInStep(ms = Date.now()) {
  return 30 - ((ms / 1000) % 30);
}

/** RFC 6238 code (HMAC-SHA1, 6 digits) of a base32 secret at a time step. */
export function totp(secretBase32, step = totpStep()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32Decode(secretBase32)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, '0');
}

/**
 * First login, on /mon-compte: replaces the initial password by `chosen`
 * (the console opens nothing else before). Ends on the page saying it is done.
 */
export async function chooseOwnPassword(page, initial, chosen) {
  await page.getByLabel('Mot de passe initial').fill(initial);
  await page.getByLabel('Nouveau mot de passe', { exact: true }).fill(chosen);
  await page.getByLabel('Nouveau mot de passe, à nouveau').fill(chosen);
  await page.getByRole('button', { name: 'Changer le mot de passe' }).click();
  await page.getByRole('status').waitFor();
}
