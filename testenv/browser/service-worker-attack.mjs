// An app's page, in real Chromium, tries to take over other origins' pages:
// it registers a service worker for `/` (its script answers with
// `Service-Worker-Allowed: /`) and sets a cookie for `/`. Then the same
// browser opens a victim app and the platform's page.
//
//   node service-worker-attack.mjs ATTACK_URL VICTIM_URL PLATFORM_URL
//
// Prints one JSON object: what the registrations did and what the victim
// and the platform served. The Rust test (cli/tests/origins.rs) judges it.

import { chromium } from 'playwright-core';

const [attackUrl, victimUrl, platformUrl] = process.argv.slice(2);
if (!platformUrl) {
  console.error('usage: node service-worker-attack.mjs ATTACK_URL VICTIM_URL PLATFORM_URL');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
try {
  const context = await browser.newContext();
  const attack = await context.newPage();
  await attack.goto(attackUrl);
  await attack.waitForFunction(() => window.result !== undefined, null, { timeout: 20000 });
  const registrations = await attack.evaluate(() => window.result);

  const bodyOf = async (url) => {
    const page = await context.newPage();
    const response = await page.goto(url);
    const body = await page.evaluate(() => document.body ? document.body.innerText : '');
    const controlled = await page.evaluate(() => Boolean(navigator.serviceWorker && navigator.serviceWorker.controller));
    return { status: response ? response.status() : 0, body, controlled };
  };
  const victim = await bodyOf(victimUrl);
  const platform = await bodyOf(platformUrl);
  console.log(JSON.stringify({ registrations, victim, platform }));
} finally {
  await browser.close();
}
