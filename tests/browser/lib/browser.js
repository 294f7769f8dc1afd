// Shared helpers of the browser journeys (run them with tests/browser/run.sh,
// which starts the servers and sets the environment read here).
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the journeys with tests/browser/run.sh`);
  return value;
}

/** URLs and demo credentials of the system under test. */
export const env = {
  issuer: required('SESAME_ISSUER'),
  rp: required('DEMO_RP_URL'),
  email: required('DEMO_EMAIL'),
  password: required('DEMO_PASSWORD'),
};

// Debian's Chromium, headless, as root, with nothing reaching out to Google.
// Playwright adds a fresh --user-data-dir under TMPDIR and removes it on close.
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches Chromium; close it with `browser.close()`. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: FLAGS,
  });
}

/** A new isolated browser context speaking French, with short timeouts. */
export async function frenchContext(browser, options = {}) {
  const context = await browser.newContext({ locale: 'fr-FR', ...options });
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(10_000);
  context.on('page', (page) => {
    const errors = [];
    consoleErrors.set(page, errors);
    page.on('console', (m) => m.type() === 'error' && errors.push(`${m.text()} (${m.location().url})`));
  });
  return context;
}

// Console errors of each page (e.g. Content-Security-Policy violations), to
// explain a navigation that never happens.
const consoleErrors = new WeakMap();

const counters = new Map();

/** Full-page screenshot to screenshots/<journey>/<nn>-<step>.png. */
export async function shot(page, journey, step) {
  const n = (counters.get(journey) ?? 0) + 1;
  counters.set(journey, n);
  const dir = path.join(process.env.SCREENSHOT_DIR || 'screenshots', journey);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${String(n).padStart(2, '0')}-${step}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Asserts the page's visible text contains every given string. */
export async function expectText(page, ...texts) {
  const body = await page.locator('body').innerText();
  for (const text of texts) {
    assert.ok(body.includes(text), `expected «${text}» on ${page.url()}; the page reads:\n${body.slice(0, 1500)}`);
  }
}

/** Waits until the page is at `base` + `pathname` (query ignored). */
export async function expectAt(page, base, pathname) {
  const origin = new URL(base).origin;
  try {
    await page.waitForURL((url) => url.origin === origin && url.pathname === pathname);
  } catch (e) {
    const errors = consoleErrors.get(page) ?? [];
    let message = `expected to reach ${origin}${pathname}, still at ${page.url()} (${e.message.split('\n')[0]})`;
    if (errors.length) message += `\nbrowser console errors:\n  ${errors.join('\n  ')}`;
    throw new Error(message, { cause: e });
  }
}

/** Asserts the page does not scroll sideways. */
export async function expectNoHorizontalScroll(page) {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  assert.ok(scrollWidth <= innerWidth, `${page.url()} scrolls sideways: scrollWidth ${scrollWidth} > innerWidth ${innerWidth}`);
}
