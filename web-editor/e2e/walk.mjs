// The whole editor in real Chromium against a real `gofast up`:
//
//   node e2e/walk.mjs PLATFORM_URL APPS_URL
//
// signup → template → a syntax error marks its line → fix → deploy → the
// stages in order → READY → the preview shows the app's JSON → /docs in the
// preview → the logs show a print() → an import-time NameError shows the
// traceback, whose link jumps to its line → rollback → delete → reload keeps
// the draft. Prints one JSON line of figures; exits non-zero on the first
// step that fails (cli/tests/editor.rs runs it).
import { chromium } from 'playwright-core';

const [platform, apps] = process.argv.slice(2);
if (!apps) {
  console.error('usage: node e2e/walk.mjs PLATFORM_URL APPS_URL');
  process.exit(2);
}
const T = 60_000;
const step = (name) => console.error(`walk: ${name}`);
function check(ok, what) {
  if (!ok) throw new Error(`walk failed: ${what}`);
}

const ORDER = ['VALIDATING', 'STORED', 'APPLYING', 'STARTING', 'HEALTH_CHECK', 'READY'];

const APP = (message, extra = '') => `from fastapi import FastAPI

print("hello from the walk")
app = FastAPI(title="walk")
${extra}

@app.get("/")
def read_root() -> dict[str, str]:
    return {"message": "${message}"}
`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const figures = {};
const problems = [];
let page;
let setCode;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return { n: s.length, median: at(0.5), p90: at(0.9), min: s[0], max: s[s.length - 1] };
}

// WALK_BENCH=N: N deploys pressed in the editor (clock: the click → the
// preview shows the new answer) alternating with N API deploys of the same
// app (clock: REST PUT sent → the first 200 with the new answer, polled every
// 5 ms), so both see the same machine. Figures for BENCHMARKS.md.
async function bench(rounds, email) {
  const preview = page.frameLocator('#preview');
  const login = await fetch(`${platform}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'walk-password-123' }),
  }).then((r) => r.json());
  const headers = { authorization: `Bearer ${login.access_token}`, 'content-type': 'application/json' };
  const appUrl = await page.getAttribute('#app-url', 'href');
  const editor = [];
  const api = [];
  for (let i = 0; i < rounds; i++) {
    await setCode(APP(`editor-${i}`));
    let t0 = Date.now();
    await page.click('#deploy');
    await preview.locator('body', { hasText: `"message":"editor-${i}"` }).waitFor({ timeout: T });
    editor.push(Date.now() - t0);

    const marker = `api-${i}`;
    t0 = Date.now();
    const put = await fetch(`${platform}/api/apps/walk`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ files: [{ name: 'main.py', content: APP(marker) }] }),
    });
    check(put.ok, `API deploy answered ${put.status}`);
    for (;;) {
      const res = await fetch(appUrl).catch(() => undefined);
      if (res?.ok && (await res.text()).includes(marker)) break;
      await sleep(5);
    }
    api.push(Date.now() - t0);
  }
  // Back to what the walk expects to be running.
  await setCode(APP('one'));
  await page.click('#deploy');
  await preview.locator('body', { hasText: '"message":"one"' }).waitFor({ timeout: T });
  // First load of / in a fresh context (nothing cached), then a reload of
  // it (assets from the cache: they are immutable), until the form shows.
  const cold = [];
  const cached = [];
  for (let i = 0; i < rounds; i++) {
    const ctx = await browser.newContext();
    const p = await ctx.newPage();
    let t1 = Date.now();
    await p.goto(`${platform}/`);
    await p.locator('#auth:not([hidden]) #email').waitFor({ timeout: T });
    cold.push(Date.now() - t1);
    t1 = Date.now();
    await p.reload();
    await p.locator('#auth:not([hidden]) #email').waitFor({ timeout: T });
    cached.push(Date.now() - t1);
    await ctx.close();
  }
  return {
    editor_click_to_preview_ms: stats(editor),
    api_put_to_first_200_ms: stats(api),
    first_load_cold_ms: stats(cold),
    reload_cached_ms: stats(cached),
  };
}
try {
  const context = await browser.newContext();
  page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
  });

  step('first load (cold)');
  let t = Date.now();
  await page.goto(`${platform}/`);
  await page.locator('#auth:not([hidden]) #email').waitFor({ timeout: T });
  figures.first_load_cold_ms = Date.now() - t;
  // CodeMirror's injected styles took (the CSP nonce works): its base theme makes the editor a flex box.
  const display = await page.evaluate(() => getComputedStyle(document.querySelector('.cm-editor')).display);
  check(display === 'flex', `CodeMirror's styles were refused by the CSP (display ${display})`);

  step('signup');
  const email = `walker-${Date.now()}@example.com`;
  await page.fill('#email', email);
  await page.fill('#password', 'walk-password-123');
  await page.click('#signup');
  await page.locator('#work:not([hidden])').waitFor({ timeout: T });
  check((await page.textContent('#who')) === email, 'the header names the user');

  step('template');
  await page.fill('#app-name', 'walk');
  await page.selectOption('#template', 'params');
  await page.click('#use-template');
  await page.locator('.cm-content', { hasText: 'read_item' }).waitFor({ timeout: T });

  setCode = async (code) => {
    await page.click('.cm-content');
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(code);
  };

  step('a syntax error marks its line');
  await setCode(APP('one').replace('def read_root() -> dict[str, str]:', 'def read_root( -> dict[str, str]:'));
  const errorLine = await (async () => {
    await page.locator('.cm-lintRange-error').first().waitFor({ timeout: T });
    return page.evaluate(() => [...document.querySelectorAll('.cm-line')].findIndex((l) => l.querySelector('.cm-lintRange-error')) + 1);
  })();
  const wanted = APP('one').split('\n').findIndex((l) => l.startsWith('def read_root')) + 1;
  check(errorLine === wanted, `the marker is on line ${errorLine}, the error on line ${wanted}`);
  const listed = await page.textContent('#problems');
  check(listed.includes(`main.py:${wanted}:`), `the problems list names main.py:${wanted}: ${listed}`);

  step('fix');
  await setCode(APP('one'));
  await page.locator('#problem-count', { hasText: 'none' }).waitFor({ timeout: T });
  check((await page.locator('.cm-lintRange-error').count()) === 0, 'the marker goes when fixed');

  step('deploy');
  t = Date.now();
  await page.click('#deploy');
  await page.locator('#stages li[data-stage="READY"]').waitFor({ timeout: T });
  const stages = await page.$$eval('#stages li', (lis) => lis.map((l) => l.dataset.stage));
  const seen = stages.map((s) => ORDER.indexOf(s));
  check(seen.every((i, k) => i >= 0 && (k === 0 || i > seen[k - 1])), `stages in order: ${stages}`);
  check(stages[stages.length - 1] === 'READY' && stages.length >= 3, `stages: ${stages}`);

  step('the preview shows the app');
  const preview = page.frameLocator('#preview');
  await preview.locator('body', { hasText: '"message":"one"' }).waitFor({ timeout: T });
  figures.deploy_to_preview_ms = Date.now() - t;
  const src = await page.getAttribute('#preview', 'src');
  check(src.startsWith(`${apps}/user/`), `the preview is on the apps origin: ${src}`);
  // The app cannot read the editor: another origin.
  const frame = page.frames().find((f) => f.url().startsWith(apps));
  const reach = await frame.evaluate(() => {
    try {
      return String(window.parent.document.title);
    } catch {
      return 'blocked';
    }
  });
  check(reach === 'blocked', `the app's page read the editor: ${reach}`);
  // The apps origin's own storage (if the gateway lets it have any) holds no token.
  const token = await frame.evaluate(() => {
    try {
      return JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage });
    } catch {
      return '';
    }
  });
  check(!token.includes('eyJ'), 'no token in the apps origin');

  const rounds = Number(process.env.WALK_BENCH || 0);
  if (rounds > 0) {
    step(`benchmark: ${rounds} editor deploys beside ${rounds} API deploys`);
    figures.bench = await bench(rounds, email);
  }

  step('unchanged code says so');
  await page.click('#deploy');
  await page.locator('#deploy-message', { hasText: 'Nothing changed' }).waitFor({ timeout: T });

  step('/docs in the preview');
  await page.click('#preview-docs');
  await page.waitForFunction(() => document.querySelector('#preview').src.endsWith('/docs'));
  await preview.locator('#swagger-ui').waitFor({ state: 'attached', timeout: T });

  step('the logs show a print()');
  await page.click('#logs-panel summary');
  await page.locator('#logs', { hasText: 'hello from the walk' }).waitFor({ timeout: T });

  step('an import-time NameError links its traceback to the line');
  const broken = APP('two', 'undefined_thing + 1\n');
  const nameErrorLine = broken.split('\n').findIndex((l) => l.startsWith('undefined_thing')) + 1;
  await setCode(broken);
  // By keyboard this time: Ctrl/Cmd+Enter in the editor deploys.
  await page.keyboard.press('ControlOrMeta+Enter');
  await page.locator('#stages li[data-stage="FAILED"]').waitFor({ timeout: T });
  await page.locator('#traceback', { hasText: 'NameError' }).waitFor({ timeout: T });
  const link = page.locator('#trace-links button', { hasText: `main.py:${nameErrorLine}` });
  await link.first().click();
  const cursorLine = await page.evaluate(() => {
    const sel = window.getSelection();
    const line = sel?.anchorNode?.parentElement?.closest('.cm-line') ?? sel?.anchorNode?.closest?.('.cm-line');
    return [...document.querySelectorAll('.cm-line')].indexOf(line) + 1;
  });
  check(cursorLine === nameErrorLine, `the traceback link put the cursor on line ${cursorLine}, not ${nameErrorLine}`);

  step('rollback');
  await page.click('#history-panel summary');
  // The revision before the failed one (the first choice) ran "one".
  await page.locator('#rollback-to option').first().waitFor({ state: 'attached', timeout: T });
  const failedRevision = Number(await page.textContent('#revision'));
  check((await page.inputValue('#rollback-to')) === String(failedRevision - 1), 'the previous revision is offered first');
  await page.click('#rollback');
  await page.locator('#stages li[data-stage="READY"]').waitFor({ timeout: T });
  await preview.locator('body', { hasText: '"message":"one"' }).waitFor({ timeout: T });

  step('delete');
  await page.click('#delete-app');
  await page.click('#confirm-yes');
  await page.locator('#deploy-message', { hasText: 'deleted' }).waitFor({ timeout: T });
  await page.click('#apps-panel summary');
  await page.click('#refresh-apps');
  await page.waitForFunction(() => !document.querySelector('#apps').textContent.includes('walk'), null, { timeout: T });

  step('reload keeps the draft');
  t = Date.now();
  await page.reload();
  await page.locator('.cm-content', { hasText: 'undefined_thing' }).waitFor({ timeout: T });
  figures.reload_cached_ms = Date.now() - t;
  check((await page.inputValue('#app-name')) === 'walk', 'the app name comes back');

  step('log out; a wrong password is refused in words; log in again');
  await page.click('#logout');
  await page.locator('#auth:not([hidden])').waitFor({ timeout: T });
  await page.fill('#email', email);
  await page.fill('#password', 'not-the-password');
  await page.click('#login');
  await page.locator('#auth-error', { hasText: /password|credentials|email/i }).waitFor({ timeout: T });
  await page.fill('#password', 'walk-password-123');
  await page.click('#login');
  await page.locator('#work:not([hidden])').waitFor({ timeout: T });
  await page.locator('.cm-content', { hasText: 'undefined_thing' }).waitFor({ timeout: T });

  step('360 px wide: nothing scrolls sideways');
  await page.setViewportSize({ width: 360, height: 740 });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  const culprits = await page.evaluate(() =>
    [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > 361)
      .slice(0, 5)
      .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`),
  );
  check(wide <= 360, `at 360 px the page is ${wide} px wide: ${culprits}`);

  const csp = problems.filter((p) => /Content Security Policy|Refused/.test(p));
  check(csp.length === 0, `CSP refusals: ${csp.join(' | ')}`);
  console.log(JSON.stringify({ ok: true, figures }));
} catch (e) {
  // What the learner would have seen, to tell why.
  const seen = await page?.evaluate(() => ({
    message: document.querySelector('#deploy-message')?.textContent,
    stages: document.querySelector('#stages')?.textContent,
    problems: document.querySelector('#problems')?.textContent,
    auth: document.querySelector('#auth-error')?.textContent,
  })).catch(() => undefined);
  if (process.env.WALK_SCREENSHOT) await page?.screenshot({ path: process.env.WALK_SCREENSHOT, fullPage: true }).catch(() => {});
  console.log(JSON.stringify({ ok: false, error: String(e?.message ?? e), seen, console: problems.slice(0, 20) }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
