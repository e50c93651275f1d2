// The whole editor in real Chromium against a real `gofast up`:
//
//   node e2e/walk.mjs PLATFORM_URL APPS_URL
//
// axe-core on the login page (light and dark) → signup → template → a
// syntax error marks its line → fix → deploy → the stages in order → READY →
// the preview shows the app's JSON → /docs in the preview → the logs show a
// print() → by keyboard alone: Tab from the page's start through the app
// name, template, deploy, the file tabs and into the editor, the add-file
// dialog opened, refused and submitted, a deploy with Ctrl+Enter → an
// import-time NameError shows the traceback, whose link jumps to its line →
// the Revisions panel (current and live) → roll back to the live one → open
// an older revision's code (asked first) → an app deployed through REST opens
// with its code → axe-core on the work page (light and dark) → delete →
// reload keeps the draft. Prints one JSON line of figures; exits non-zero on
// the first step that fails (cli/tests/editor.rs runs it).
import { readFileSync } from 'node:fs';
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
const PASSWORD = 'walk-password-123';
// axe-core, from the browser tests' own packages (testenv/browser).
const AXE = readFileSync(new URL('../../testenv/browser/node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');

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
async function restHeaders(email) {
  const login = await fetch(`${platform}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  }).then((r) => r.json());
  return { authorization: `Bearer ${login.access_token}`, 'content-type': 'application/json' };
}

async function bench(rounds, email) {
  const preview = page.frameLocator('#preview');
  const headers = await restHeaders(email);
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
// axe-core in the page, in the light and the dark colour scheme: no serious
// or critical violation. Returns how many lesser ones it found, by rule.
async function axeCheck(where) {
  const lesser = {};
  const colours = [];
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    colours.push(await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor));
    if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
      await page.evaluate(AXE);
      // It runs and sees: an image without a text alternative is found.
      const canary = await page.evaluate(async () => {
        const img = Object.assign(document.createElement('img'), { id: 'axe-canary', src: 'data:,' });
        // Inside an open modal dialog when there is one: the rest is inert then.
        (document.querySelector('dialog[open]') ?? document.body).append(img);
        try {
          const r = await window.axe.run({ include: [['#axe-canary']] }, { runOnly: ['image-alt'] });
          return r.violations.map((v) => v.id);
        } finally {
          img.remove();
        }
      });
      check(canary.includes('image-alt'), `axe-core did not find a planted violation: ${canary}`);
    }
    const { violations, passes } = await page.evaluate(() => window.axe.run(document));
    check(passes.length > 10, `axe-core checked only ${passes.length} rules on the ${where}`);
    const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    const said = bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
    check(bad.length === 0, `axe-core on the ${where} (${scheme}): ${said.join(' | ')}`);
    for (const v of violations) lesser[`${v.id}/${scheme}`] = v.nodes.length;
  }
  await page.emulateMedia({ colorScheme: null });
  check(colours[0] !== colours[1], `the ${where} looks the same in light and dark (${colours[0]})`);
  return lesser;
}

/** Opens a <details> panel unless it is open (a click on its summary toggles). */
async function openPanel(id) {
  if (!(await page.$eval(`#${id}`, (d) => d.open))) await page.click(`#${id} summary`);
}

const tabNames = () => page.$$eval('#tabs [role=tab]', (tabs) => tabs.map((t) => t.textContent));
const focused = () =>
  page.evaluate(() => {
    const a = document.activeElement;
    if (a?.classList.contains('cm-content')) return 'editor';
    return a?.id || a?.tagName.toLowerCase();
  });

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

  step('axe-core: the login page, light and dark');
  figures.axe_login_lesser = await axeCheck('login page');

  step('signup');
  const email = `walker-${Date.now()}@example.com`;
  await page.fill('#email', email);
  await page.fill('#password', PASSWORD);
  await page.click('#signup');
  await page.locator('#work:not([hidden])').waitFor({ timeout: T });
  check((await page.textContent('#who')) === email, 'the header names the user');

  step('template');
  await page.fill('#app-name', 'walk');
  await page.selectOption('#template', 'params');
  await page.click('#use-template');
  await page.locator('.cm-content', { hasText: 'read_item' }).waitFor({ timeout: T });

  setCode = async (code) => {
    if ((await page.getAttribute('#tabs [aria-selected=true]', 'id')) !== 'tab-main.py') {
      await page.locator('#tabs [role=tab]', { hasText: /^main\.py$/ }).click();
    }
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

  step('keyboard: Tab from the page start reaches the app name, template, deploy, the file tabs and the editor');
  await page.reload();
  await page.locator('#work:not([hidden]) .cm-content', { hasText: 'hello from the walk' }).waitFor({ timeout: T });
  const order = [];
  for (let i = 0; i < 40 && order.at(-1) !== 'editor'; i++) {
    await page.keyboard.press('Tab');
    order.push(await focused());
  }
  const wantOrder = ['app-name', 'template', 'deploy', 'tab-main.py', 'add-file', 'editor'];
  const at = wantOrder.map((w) => order.indexOf(w));
  check(at.every((i, k) => i >= 0 && (k === 0 || i > at[k - 1])), `Tab order ${order.join(' → ')} lacks ${wantOrder.join(' → ')}`);
  figures.tabs_to_editor = order.length;

  step('keyboard: Escape, Shift+Tab leave the editor; the add-file dialog by keyboard');
  await page.keyboard.press('Escape');
  for (let i = 0; i < 6 && (await focused()) !== 'add-file'; i++) await page.keyboard.press('Shift+Tab');
  check((await focused()) === 'add-file', `Shift+Tab from the editor did not reach "Add file" (at ${await focused()})`);
  await page.keyboard.press('Enter');
  await page.locator('#file-dialog[open]').waitFor({ timeout: T });
  check((await focused()) === 'file-name', `the dialog's focus is on ${await focused()}, not the name field`);
  await page.keyboard.type('not a module');
  await page.keyboard.press('Enter');
  await page.locator('#file-error', { hasText: 'module name' }).waitFor({ timeout: T });
  check((await page.getAttribute('#file-name', 'aria-invalid')) === 'true', 'the refused name is marked invalid');
  check(await page.$eval('#file-dialog', (d) => d.open), 'the dialog stays open on a refused name');
  figures.axe_dialog_lesser = await axeCheck('add-file dialog');
  check((await focused()) === 'file-name', `after the axe run the focus is on ${await focused()}`);
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.type('extra.py');
  await page.keyboard.press('Enter');
  await page.locator('#file-dialog:not([open])').waitFor({ state: 'attached', timeout: T });
  // The dialog closes first; the tab opens once its close handler has run.
  await page
    .locator('#tabs [id="tab-extra.py"][aria-selected="true"]')
    .waitFor({ timeout: T })
    .catch(() => check(false, 'the new file is the open tab'));
  check((await focused()) === 'editor', `after adding a file the focus is on ${await focused()}`);
  await page.keyboard.type('X = 1\n');

  step('keyboard: Ctrl+Enter deploys');
  await page.keyboard.press('ControlOrMeta+Enter');
  await page.locator('#stages li[data-stage="READY"]').waitFor({ timeout: T });
  await page.locator('#deploy-message', { hasText: 'is live' }).waitFor({ timeout: T });

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

  step('the Revisions panel: the failed revision is current, the one before is live');
  await openPanel('history-panel');
  const failedRevision = Number(await page.textContent('#revision'));
  const current = page.locator('#revisions li[data-current="true"]');
  await page.locator(`#revisions li[data-number="${failedRevision}"][data-current="true"][data-live="false"]`).waitFor({ timeout: T });
  const live = page.locator('#revisions li[data-live="true"]');
  const liveRevision = Number(await live.getAttribute('data-number'));
  check(liveRevision === failedRevision - 1, `revision ${liveRevision} is live, not ${failedRevision - 1}`);
  check((await current.locator('button.roll-back').count()) === 0, 'the current revision offers no roll back to itself');
  await page.locator('#revisions-note', { hasText: 'is what serves' }).waitFor({ timeout: T });
  const numbersListed = await page.$$eval('#revisions li', (lis) => lis.map((l) => Number(l.dataset.number)));
  check(numbersListed.every((n, i) => i === 0 || n < numbersListed[i - 1]) && numbersListed.at(-1) === 1, `revisions newest first down to 1: ${numbersListed}`);
  check((await live.textContent()).includes('extra.py'), 'the live revision lists its files');

  step('roll back to the live revision');
  await live.locator('button.roll-back').click();
  await page.locator('#stages li[data-stage="READY"]').waitFor({ timeout: T });
  await preview.locator('body', { hasText: '"message":"one"' }).waitFor({ timeout: T });
  await page.locator(`#revisions li[data-number="${liveRevision}"][data-current="true"][data-live="true"]`).waitFor({ timeout: T });

  step("open an older revision's code: asked first, Cancel keeps the draft");
  const oldest = page.locator('#revisions li[data-number="1"]');
  await oldest.locator('button.open-code').click();
  await page.locator('#confirm[open]').waitFor({ timeout: T });
  await page.click('#confirm-no');
  await page.locator('#deploy-message', { hasText: 'Kept your draft' }).waitFor({ timeout: T });
  check((await page.textContent('.cm-content')).includes('undefined_thing'), 'Cancel kept the draft');
  await oldest.locator('button.open-code').click();
  await page.click('#confirm-yes');
  await page.locator('#deploy-message', { hasText: 'Opened the code of revision 1' }).waitFor({ timeout: T });
  await page.locator('.cm-content', { hasText: '"message": "one"' }).waitFor({ timeout: T });
  check(!(await page.textContent('.cm-content')).includes('undefined_thing'), "revision 1's code replaced the draft");
  check(JSON.stringify(await tabNames()) === '["main.py"]', `revision 1 had main.py only: ${await tabNames()}`);

  step('an app deployed through REST opens in the editor with its code');
  const headers = await restHeaders(email);
  const created = await fetch(`${platform}/api/apps`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      name: 'elsewhere',
      files: [
        {
          name: 'main.py',
          content:
            'from fastapi import FastAPI\n\nfrom routes import router\n\napp = FastAPI()\napp.include_router(router)\n\n\n@app.get("/")\ndef root() -> dict[str, str]:\n    return {"message": "from-elsewhere"}\n',
        },
        { name: 'routes.py', content: 'from fastapi import APIRouter\n\nrouter = APIRouter()\n\n\n@router.get("/ping")\ndef ping() -> dict[str, bool]:\n    return {"pong": True}\n' },
      ],
    }),
  });
  check(created.status === 201, `REST create answered ${created.status}: ${await created.text()}`);
  await openPanel('apps-panel');
  await page.click('#refresh-apps');
  await page.locator('#apps button', { hasText: /^elsewhere$/ }).click();
  await page.locator('.cm-content', { hasText: 'from-elsewhere' }).waitFor({ timeout: T });
  check((await page.inputValue('#app-name')) === 'elsewhere', 'the app name follows');
  check(JSON.stringify(await tabNames()) === '["main.py","routes.py"]', `its two files: ${await tabNames()}`);
  await page.locator('#revisions li[data-number="1"][data-current="true"]').waitFor({ timeout: T });

  step('axe-core: the work page with its panels, light and dark');
  figures.axe_work_lesser = await axeCheck('work page');

  step('back to the walk app: its draft is still in this browser');
  await page.locator('#apps button', { hasText: /^walk$/ }).click();
  await page.locator('.cm-content', { hasText: '"message": "one"' }).waitFor({ timeout: T });
  check((await page.inputValue('#app-name')) === 'walk', 'the walk app is open again');
  await setCode(APP('kept-in-the-draft'));

  step('delete');
  await page.click('#delete-app');
  await page.click('#confirm-yes');
  await page.locator('#deploy-message', { hasText: 'deleted' }).waitFor({ timeout: T });
  await openPanel('apps-panel');
  await page.click('#refresh-apps');
  await page.waitForFunction(() => ![...document.querySelectorAll('#apps button')].some((b) => b.textContent === 'walk'), null, { timeout: T });

  step('reload keeps the draft');
  t = Date.now();
  await page.reload();
  await page.locator('.cm-content', { hasText: 'kept-in-the-draft' }).waitFor({ timeout: T });
  figures.reload_cached_ms = Date.now() - t;
  check((await page.inputValue('#app-name')) === 'walk', 'the app name comes back');

  step('log out; a wrong password is refused in words; log in again');
  await page.click('#logout');
  await page.locator('#auth:not([hidden])').waitFor({ timeout: T });
  await page.fill('#email', email);
  await page.fill('#password', 'not-the-password');
  await page.click('#login');
  await page.locator('#auth-error', { hasText: /password|credentials|email/i }).waitFor({ timeout: T });
  await page.fill('#password', PASSWORD);
  await page.click('#login');
  await page.locator('#work:not([hidden])').waitFor({ timeout: T });
  await page.locator('.cm-content', { hasText: 'kept-in-the-draft' }).waitFor({ timeout: T });

  step('360 px wide: nothing scrolls sideways, panels open');
  await openPanel('history-panel');
  await openPanel('apps-panel');
  await page.locator('#apps button', { hasText: /^elsewhere$/ }).click();
  await page.locator('#revisions li[data-number="1"]').waitFor({ timeout: T });
  await page.setViewportSize({ width: 360, height: 740 });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  // The widest element whose parent fits: where the overflow starts.
  const culprits = await page.evaluate(() =>
    [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > 361 && e.parentElement.getBoundingClientRect().right <= 361)
      .slice(0, 5)
      .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className} (${Math.round(e.getBoundingClientRect().width)} px: ${e.textContent.slice(0, 60)})`),
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
