// The editor's page: wires the session, the draft, CodeMirror and the
// deploy panel together. Each concern lives in its own module; this one
// only connects them to index.html.
import './style.css';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import type { Diagnostic as CmDiagnostic } from '@codemirror/lint';
import { forceLinting, setDiagnostics } from '@codemirror/lint';
import { EditorSelection, type EditorState } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { ConnectError, Code } from '@connectrpc/connect';
import { clients } from './api';
import { type Diagnostic, markersFor, place, traceFrames } from './diagnostics';
import { $, el } from './dom';
import { type Draft, DraftStore, fileNameProblem, fingerprint, type SourceFile } from './drafts';
import { extensions, newState } from './editor';
import { isUnauthenticated, refusedDiagnostics, words } from './errors';
import { DeployStage, type App } from './gen/gofast/v1/apps_pb';
import { clearSession, loadSession, saveSession, type Session } from './session';
import { TEMPLATES } from './templates';
import { FINAL, type StageEvent, formatMs, label, push, rows, total } from './timeline';

const nonce = document.querySelector<HTMLMetaElement>('meta[name="csp-nonce"]')?.content ?? '';
let session: Session | undefined = loadSession();
const api = clients(() => session?.token);
const drafts = new DraftStore(localStorage);

// ---- the draft and the open files ----

let draft: Draft = drafts.last() ?? { app: 'my-app', files: TEMPLATES[0].files.map((f) => ({ ...f })), active: 'main.py' };
const states = new Map<string, EditorState>();
let view: EditorView;

function currentFiles(): SourceFile[] {
  return draft.files.map((f) => (f.name === draft.active ? { name: f.name, content: view.state.doc.toString() } : f));
}

let saveTimer: number | undefined;
function saveDraft(now = false): void {
  window.clearTimeout(saveTimer);
  const write = () => {
    draft.files = currentFiles();
    drafts.save(draft);
    $('saved').textContent = 'Draft saved in this browser';
  };
  if (now) write();
  else saveTimer = window.setTimeout(write, 300);
}

async function lint(v: EditorView): Promise<readonly CmDiagnostic[]> {
  if (!session) return [];
  const files = currentFiles();
  try {
    const res = await api.apps.validateCode({ files });
    showProblems(res.diagnostics);
    return markersFor(draft.active, v.state.doc.toString(), res.diagnostics);
  } catch (e) {
    if (isUnauthenticated(e)) loggedOut(`${words(e)}; log in again.`);
    return [];
  }
}

const ext = extensions({
  nonce,
  lint,
  onChange: () => saveDraft(),
  save: () => saveDraft(true),
  deploy: () => void deploy(),
});

function stateFor(name: string): EditorState {
  let s = states.get(name);
  if (!s) {
    s = newState(draft.files.find((f) => f.name === name)?.content ?? '', ext);
    states.set(name, s);
  }
  return s;
}

function openFile(name: string): void {
  if (view) {
    draft.files = currentFiles();
    states.set(draft.active, view.state);
  }
  draft.active = name;
  if (view) view.setState(stateFor(name));
  renderTabs();
  saveDraft();
}

function loadDraft(d: Draft): void {
  draft = d;
  if (!draft.files.some((f) => f.name === draft.active)) draft.active = 'main.py';
  states.clear();
  view.setState(stateFor(draft.active));
  ($('app-name') as HTMLInputElement).value = draft.app;
  renderTabs();
  showProblems([]);
}

function renderTabs(): void {
  $('tabs').replaceChildren(
    ...draft.files.map((f) =>
      el('button', {
        type: 'button',
        role: 'tab',
        className: 'tab',
        textContent: f.name,
        ariaSelected: String(f.name === draft.active),
        onclick: () => openFile(f.name),
      }),
    ),
  );
}

function jumpTo(file: string, line: number, column = 1): void {
  if (!draft.files.some((f) => f.name === file)) return;
  if (file !== draft.active) openFile(file);
  const doc = view.state.doc;
  const l = doc.line(Math.min(Math.max(1, line), doc.lines));
  const pos = Math.min(l.from + Math.max(0, column - 1), l.to);
  view.dispatch({ selection: EditorSelection.cursor(pos), scrollIntoView: true });
  view.focus();
}

function showProblems(list: Diagnostic[]): void {
  $('problem-count').textContent = list.length ? `(${list.length})` : '— none';
  $('problems').replaceChildren(
    ...list.map((d) =>
      el(
        'li',
        { className: d.severity },
        el('button', {
          type: 'button',
          className: 'link',
          textContent: `${place(d)} ${d.code}`,
          onclick: () => jumpTo(d.file, d.line, d.column),
        }),
        ` ${d.message}`,
        d.hint ? el('span', { className: 'muted', textContent: ` — ${d.hint}` }) : '',
      ),
    ),
  );
}

// ---- files ----

function addFile(): void {
  const name = prompt('Name of the new file (for example routes.py)')?.trim();
  if (!name) return;
  const problem = fileNameProblem(name, draft.files.map((f) => f.name));
  if (problem) return alert(problem);
  draft.files = [...currentFiles(), { name, content: '' }];
  openFile(name);
}

function renameFile(): void {
  const old = draft.active;
  if (old === 'main.py') return alert('main.py is where gofast finds your app; it keeps its name.');
  const name = prompt(`New name for ${old}`, old)?.trim();
  if (!name || name === old) return;
  const problem = fileNameProblem(name, draft.files.map((f) => f.name));
  if (problem) return alert(problem);
  draft.files = currentFiles().map((f) => (f.name === old ? { ...f, name } : f));
  states.set(name, view.state);
  states.delete(old);
  draft.active = name;
  renderTabs();
  saveDraft(true);
}

function deleteFile(): void {
  const name = draft.active;
  if (name === 'main.py') return alert('Every app needs main.py.');
  if (!confirm(`Delete ${name}?`)) return;
  draft.files = currentFiles().filter((f) => f.name !== name);
  states.delete(name);
  draft.active = 'main.py';
  view.setState(stateFor('main.py'));
  renderTabs();
  saveDraft(true);
}

// ---- deploy, stages, preview ----

let events: StageEvent[] = [];
let logsAbort: AbortController | undefined;

function renderStages(): void {
  $('stages').replaceChildren(
    ...rows(events).map((r) => {
      const li = el(
        'li',
        { className: r.state },
        el('strong', { textContent: label(r.stage) }),
        r.ms !== undefined ? el('span', { className: 'muted', textContent: ` ${formatMs(r.ms)}` }) : '',
        r.message ? el('div', { className: 'muted small', textContent: r.message }) : '',
      );
      li.dataset.stage = r.stage;
      return li;
    }),
  );
}

function say(text: string): void {
  $('deploy-message').textContent = text;
}

function appName(): string {
  return ($('app-name') as HTMLInputElement).value.trim();
}

async function deploy(): Promise<void> {
  if (!session) return;
  const name = appName();
  if (!/^[a-z][a-z0-9-]*$/.test(name)) return say('An app name is lowercase letters, digits and dashes, starting with a letter.');
  draft.app = name;
  saveDraft(true);
  const files = currentFiles();
  const print = fingerprint(files);
  if (draft.deployed === print) return say('Nothing changed since the last deploy: the running app already has this code.');
  const button = $('deploy') as HTMLButtonElement;
  button.disabled = true;
  events = [];
  renderStages();
  $('failed').hidden = true;
  say('Deploying…');
  try {
    let revision: number;
    try {
      revision = (await api.apps.updateApp({ app: name, files })).revision;
    } catch (e) {
      if (!(e instanceof ConnectError && e.code === Code.NotFound)) throw e;
      revision = (await api.apps.createApp({ name, files })).revision;
    }
    draft.deployed = print;
    saveDraft(true);
    await watch(name, revision);
  } catch (e) {
    const found = refusedDiagnostics(e);
    if (found.length) {
      showProblems(found);
      view.dispatch(setDiagnostics(view.state, markersFor(draft.active, view.state.doc.toString(), found)));
      say(`Not deployed: fix the ${found.length === 1 ? 'problem' : `${found.length} problems`} below first.`);
    } else {
      say(`Not deployed: ${words(e)}`);
      if (isUnauthenticated(e)) loggedOut(`${words(e)}; log in again.`);
    }
  } finally {
    button.disabled = false;
  }
}

/** Watches a deploy to its end; a dropped stream is opened again (the
 *  server replays the events so far, `push` drops the repeats). */
async function watch(app: string, revision: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await watchOnce(app, revision);
    } catch (e) {
      const transient = e instanceof ConnectError && [Code.Unavailable, Code.Unknown, Code.Internal, Code.DeadlineExceeded].includes(e.code);
      if (!transient || attempt >= 5) throw e;
      say(`Lost the connection while watching revision ${revision}; the deploy goes on. Reconnecting…`);
      await new Promise((r) => setTimeout(r, 1000 * attempt));
    }
  }
}

async function watchOnce(app: string, revision: number): Promise<void> {
  for await (const ev of api.apps.watchDeployment({ app, revision })) {
    const stage = DeployStage[ev.stage];
    events = push(events, { stage, message: ev.message, at: ev.time ? timestampMs(ev.time) : Date.now() });
    renderStages();
    $('revision').textContent = String(ev.revision);
    if (ev.stage === DeployStage.READY) ready(ev.url || '', ev.revision);
    if (ev.stage === DeployStage.FAILED) failed(ev.message, ev.outputTail);
    if (FINAL.has(stage)) break;
  }
  void refreshApps();
}

function ready(url: string, revision: number): void {
  const t = total(events);
  say(`Revision ${revision} is live${t !== undefined ? ` (deployed in ${formatMs(t)})` : ''}.`);
  $('ready').hidden = false;
  const a = $('app-url') as HTMLAnchorElement;
  a.href = url;
  a.textContent = url;
  ($('docs-url') as HTMLAnchorElement).href = `${url}docs`;
  ($('preview') as HTMLIFrameElement).src = url;
  renderRollback(revision);
  followLogs(draft.app);
}

function failed(reason: string, tail: string): void {
  say('The deploy failed; the app that was running (if any) still runs.');
  $('failed').hidden = false;
  $('failed-reason').textContent = reason;
  $('traceback').textContent = tail;
  $('trace-links').replaceChildren(
    ...traceFrames(tail, draft.files.map((f) => f.name)).map((f) =>
      el('li', {}, el('button', { type: 'button', className: 'link', textContent: `${f.file}:${f.line}`, onclick: () => jumpTo(f.file, f.line) })),
    ),
  );
  followLogs(draft.app);
}

async function followLogs(app: string): Promise<void> {
  logsAbort?.abort();
  const abort = new AbortController();
  logsAbort = abort;
  const out = $('logs');
  out.textContent = '';
  try {
    for await (const r of api.apps.streamLogs({ app, tail: 200, follow: true }, { signal: abort.signal })) {
      out.textContent += `${r.line}\n`;
      if (out.textContent.length > 200_000) out.textContent = out.textContent.slice(-100_000);
    }
  } catch (e) {
    if (!abort.signal.aborted && !(e instanceof ConnectError && e.code === Code.Canceled)) out.textContent += `[logs stopped: ${words(e)}]\n`;
  }
}

function renderRollback(current: number): void {
  $('revision').textContent = current ? String(current) : 'none';
  const select = $('rollback-to') as HTMLSelectElement;
  select.replaceChildren(
    ...Array.from({ length: Math.max(0, current - 1) }, (_, i) => current - 1 - i).map((n) =>
      el('option', { value: String(n), textContent: `revision ${n}` }),
    ),
  );
  ($('rollback') as HTMLButtonElement).disabled = current < 2;
}

async function rollback(): Promise<void> {
  const to = Number(($('rollback-to') as HTMLSelectElement).value);
  if (!to) return;
  events = [];
  renderStages();
  say(`Rolling back to revision ${to}…`);
  try {
    const res = await api.apps.rollbackApp({ app: appName(), toRevision: to });
    // The code in the editor is no longer what runs.
    draft.deployed = undefined;
    saveDraft(true);
    await watch(appName(), res.revision);
  } catch (e) {
    say(`Not rolled back: ${words(e)}`);
  }
}

// ---- apps ----

function stageName(a: App): string {
  return label(DeployStage[a.status] ?? 'UNSPECIFIED');
}

async function refreshApps(): Promise<void> {
  if (!session) return;
  try {
    const { apps } = await api.apps.listApps({});
    $('apps').replaceChildren(
      ...apps.map((a) =>
        el(
          'li',
          {},
          el('button', { type: 'button', className: 'link', textContent: a.name, onclick: () => openApp(a) }),
          ` ${stageName(a)}, revision ${a.revision} `,
          el('a', { href: a.url, target: '_blank', rel: 'noopener noreferrer', textContent: a.url }),
        ),
      ),
    );
    const mine = apps.find((a) => a.name === appName());
    renderRollback(mine?.revision ?? 0);
  } catch (e) {
    if (isUnauthenticated(e)) loggedOut(`${words(e)}; log in again.`);
  }
}

function openApp(a: App): void {
  saveDraft(true);
  const d = drafts.load(a.name);
  loadDraft(d ?? { app: a.name, files: [{ name: 'main.py', content: '# The code of this app is not in this browser.\n' }], active: 'main.py' });
  if (!d) say(`${a.name}'s code was deployed from elsewhere; its drafts are not in this browser.`);
  renderRollback(a.revision);
  events = [];
  renderStages();
  $('ready').hidden = a.status !== DeployStage.READY;
  if (a.status === DeployStage.READY) ready(a.url, a.revision);
}

async function deleteApp(): Promise<void> {
  const name = appName();
  $('confirm-name').textContent = name;
  const dialog = $('confirm-delete') as HTMLDialogElement;
  dialog.returnValue = '';
  dialog.showModal();
  await new Promise((resolve) => dialog.addEventListener('close', resolve, { once: true }));
  if (dialog.returnValue !== 'delete') return;
  try {
    await api.apps.deleteApp({ app: name });
    logsAbort?.abort();
    draft.deployed = undefined;
    saveDraft(true);
    $('ready').hidden = true;
    ($('preview') as HTMLIFrameElement).src = 'about:blank';
    events = [];
    renderStages();
    say(`${name} is deleted; your draft is still here.`);
    void refreshApps();
  } catch (e) {
    say(`Not deleted: ${words(e)}`);
  }
}

// ---- session ----

function loggedIn(s: Session): void {
  session = s;
  saveSession(s);
  $('who').textContent = s.email;
  $('logout').hidden = false;
  $('auth').hidden = true;
  $('work').hidden = false;
  // Re-check the code now that the server can be asked.
  forceLinting(view);
  void refreshApps();
  view.focus();
}

function loggedOut(message = ''): void {
  session = undefined;
  clearSession();
  logsAbort?.abort();
  $('who').textContent = '';
  $('logout').hidden = true;
  $('work').hidden = true;
  $('auth').hidden = false;
  $('auth-error').textContent = message;
}

async function authenticate(signup: boolean): Promise<void> {
  const email = ($('email') as HTMLInputElement).value.trim();
  const password = ($('password') as HTMLInputElement).value;
  const error = $('auth-error');
  if (!email || !password) return void (error.textContent = 'Enter your email and a password.');
  error.textContent = '';
  try {
    if (signup) await api.auth.signup({ email, password });
    const res = await api.auth.login({ email, password });
    loggedIn({ token: res.accessToken, email, expiresAt: res.expiresAt ? timestampMs(res.expiresAt) : undefined });
  } catch (e) {
    error.textContent = words(e);
  }
}

// ---- start ----

function start(): void {
  const select = $('template') as HTMLSelectElement;
  select.replaceChildren(...TEMPLATES.map((t) => el('option', { value: t.id, textContent: t.title })));
  view = new EditorView({ state: stateFor(draft.active), parent: $('editor') });
  ($('app-name') as HTMLInputElement).value = draft.app;
  renderTabs();

  $('auth-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void authenticate(false);
  });
  $('signup').addEventListener('click', () => void authenticate(true));
  $('logout').addEventListener('click', async () => {
    try {
      await api.auth.logout({});
    } finally {
      loggedOut('Logged out. Your drafts stay in this browser.');
    }
  });
  $('use-template').addEventListener('click', () => {
    const t = TEMPLATES.find((x) => x.id === select.value);
    if (!t) return;
    saveDraft(true);
    loadDraft({ app: appName() || draft.app, files: t.files.map((f) => ({ ...f })), active: 'main.py' });
    saveDraft(true);
  });
  $('app-name').addEventListener('change', () => {
    const name = appName();
    const existing = drafts.load(name);
    if (existing) loadDraft(existing);
    else {
      draft = { ...draft, app: name, deployed: undefined };
      saveDraft(true);
    }
  });
  $('deploy').addEventListener('click', () => void deploy());
  $('add-file').addEventListener('click', addFile);
  $('rename-file').addEventListener('click', renameFile);
  $('delete-file').addEventListener('click', deleteFile);
  $('rollback').addEventListener('click', () => void rollback());
  $('refresh-apps').addEventListener('click', () => void refreshApps());
  $('delete-app').addEventListener('click', () => void deleteApp());
  $('preview-docs').addEventListener('click', () => {
    ($('preview') as HTMLIFrameElement).src = ($('docs-url') as HTMLAnchorElement).href;
  });
  window.addEventListener('beforeunload', () => saveDraft(true));

  if (session) loggedIn(session);
  else loggedOut();
}

start();

