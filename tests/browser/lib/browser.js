// Shared helpers of the browser journeys (run them with tests/browser/run.sh,
// which starts the servers and sets the environment read here).
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
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

/**
 * Launches Chromium, with `extra` flags if any (e.g. CAMERA); close it with
 * `browser.close()`.
 */
export function launch(extra = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: [...FLAGS, ...extra],
  });
}

/** Chromium's fake camera and microphone (a test pattern and a beep), granted without a prompt. */
export const CAMERA = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];

/** Client addresses handed out to contexts (see frenchContext). */
let people = 0;

/**
 * A new isolated browser context speaking French, with short timeouts.
 * Each context is one person on a network of their own: it comes through
 * the trusted proxy run.sh declares (127.0.0.1) with its own
 * `X-Forwarded-For` (in 198.18.0.0/15, a range kept for tests), so the per-address
 * limits (enrolment codes: 5 an hour per address) count each journey's
 * citizen apart, as they count citizens apart in production.
 */
export async function frenchContext(browser, options = {}) {
  // Journey files run in processes of their own: the process id keeps
  // their addresses apart (198.18–19.x.y).
  people += 1;
  const net = process.pid % 512;
  const address = `198.${18 + (net >> 8)}.${net & 255}.${(people % 254) + 1}`;
  const context = await browser.newContext({
    locale: 'fr-FR',
    ...options,
    extraHTTPHeaders: { 'X-Forwarded-For': address, ...(options.extraHTTPHeaders || {}) },
  });
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(10_000);
  const violations = [];
  context.on('page', (page) => {
    const errors = [];
    consoleErrors.set(page, errors);
    page.on('console', (m) => m.type() === 'error' && errors.push(`${m.text()} (${m.location().url})`));
    // Every page loaded is checked with axe-core; what it finds fails the
    // journey when the context is closed (or at the next screenshot).
    page.on('load', () => {
      const check = axeViolations(page)
        .then((found) => violations.push(...found))
        .catch(() => {}); // navigated away (or closed) meanwhile: the next load is checked
      pendingChecks.set(page, check);
    });
    axeFound.set(page, violations);
  });
  const close = context.close.bind(context);
  context.close = async (...args) => {
    await Promise.all(context.pages().map((p) => pendingChecks.get(p)));
    await close(...args);
    assertNoViolations(violations);
  };
  return context;
}

// ---------------------------------------------------------------- axe-core

// WCAG 2.1 A and AA rules; serious and critical violations fail a journey.
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const AXE_IMPACTS = new Set(['serious', 'critical']);
let axeSource;
const pendingChecks = new WeakMap();
const axeFound = new WeakMap();

/**
 * Runs axe-core in the page (injected through the DevTools protocol, which
 * the pages' Content-Security-Policy does not govern) and returns its serious
 * and critical violations, one line each.
 */
export async function axeViolations(page) {
  axeSource ??= await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  const url = page.url();
  // A string is evaluated as is by the protocol (no eval() in the page).
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(axeSource);
  const results = await page.evaluate(
    async (tags) => {
      const r = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
      return r.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        targets: v.nodes.map((n) => `${n.target.join(' ')}${n.failureSummary ? ` (${n.failureSummary.replace(/\s+/g, ' ')})` : ''}`),
      }));
    },
    AXE_TAGS,
  );
  return results
    .filter((v) => AXE_IMPACTS.has(v.impact))
    .map((v) => `${url}: [${v.impact}] ${v.id}: ${v.help}\n      ${v.targets.slice(0, 5).join('\n      ')}`);
}

function assertNoViolations(found) {
  const unique = [...new Set(found)];
  found.length = 0;
  assert.equal(unique.length, 0, `axe-core (WCAG 2.1 AA) found serious or critical violations:\n  ${unique.join('\n  ')}`);
}

/** Checks the page's current state with axe-core now (and what loads found before). */
export async function expectAccessible(page) {
  const found = axeFound.get(page) ?? [];
  await pendingChecks.get(page);
  found.push(...(await axeViolations(page)));
  assertNoViolations(found);
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
  // Every screenshotted state (forms filled, errors shown) is checked too.
  await expectAccessible(page);
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
