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
import { askFileName, confirmIt } from './dialogs';
import { $, el } from './dom';
import { type Draft, DraftStore, fileNameProblem, fingerprint, type SourceFile } from './drafts';
import { extensions, newState } from './editor';
import { isUnauthenticated, refusedDiagnostics, words } from './errors';
import { DeployStage, type App, type File, type Revision } from './gen/gofast/v1/apps_pb';
import { badges, detail, type RevisionFacts, summary } from './history';
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

const tabId = (name: string) => `tab-${name}`;

/** One tab per file. As in every tablist, only the open tab is in the Tab
 *  order; the arrow keys, Home and End move between tabs. */
function renderTabs(): void {
  $('tabs').replaceChildren(
    ...draft.files.map((f) => {
      const open = f.name === draft.active;
      const tab = el('button', {
        type: 'button',
        id: tabId(f.name),
        className: 'tab',
        textContent: f.name,
        tabIndex: open ? 0 : -1,
        onclick: () => openFile(f.name),
      });
      tab.setAttribute('role', 'tab');
      tab.setAttribute('aria-selected', String(open));
      tab.setAttribute('aria-controls', 'editor');
      return tab;
    }),
  );
  $('editor').setAttribute('aria-labelledby', tabId(draft.active));
}

function tabKeys(e: KeyboardEvent): void {
  const names = draft.files.map((f) => f.name);
  const i = names.indexOf(draft.active);
  const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: names.length - 1 }[e.key];
  if (to === undefined) return;
  e.preventDefault();
  openFile(names[(to + names.length) % names.length]);
  document.getElementById(tabId(draft.active))?.focus();
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

function note(text: string): void {
  $('file-note').textContent = text;
}

const taken = (except = '') => draft.files.map((f) => f.name).filter((n) => n !== except);

async function addFile(): Promise<void> {
  note('');
  const name = await askFileName('New file', 'Add', '', (n) => fileNameProblem(n, taken()));
  if (!name) return;
  draft.files = [...currentFiles(), { name, content: '' }];
  openFile(name);
  note(`Added ${name}.`);
  view.focus();
}

async function renameFile(): Promise<void> {
  const old = draft.active;
  if (old === 'main.py') return note('main.py is where gofast finds your app; it keeps its name.');
  note('');
  const name = await askFileName(`Rename ${old}`, 'Rename', old, (n) => (n === old ? undefined : fileNameProblem(n, taken(old))));
  if (!name || name === old) return;
  draft.files = currentFiles().map((f) => (f.name === old ? { ...f, name } : f));
  states.set(name, view.state);
  states.delete(old);
  draft.active = name;
  renderTabs();
  saveDraft(true);
  note(`Renamed ${old} to ${name}.`);
}

async function deleteFile(): Promise<void> {
  const name = draft.active;
  if (name === 'main.py') return note('Every app needs main.py; it cannot be deleted.');
  note('');
  if (!(await confirmIt(['Delete ', el('strong', { textContent: name }), ' from your draft?'], 'Delete file', true))) return;
  draft.files = currentFiles().filter((f) => f.name !== name);
  states.delete(name);
  draft.active = 'main.py';
  view.setState(stateFor('main.py'));
  renderTabs();
  saveDraft(true);
  note(`Deleted ${name}.`);
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
  $('revision').textContent = String(revision);
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

// ---- revisions ----

function facts(r: Revision): RevisionFacts {
  return {
    number: r.number,
    createdAtMs: r.createdAt ? timestampMs(r.createdAt) : undefined,
    fileNames: r.fileNames,
    sizeBytes: Number(r.sizeBytes),
    current: r.current,
    live: r.live,
  };
}

/** A button whose name says which revision it acts on. */
function revisionAction(text: string, n: number, className: string, run: () => void): HTMLButtonElement {
  const b = el('button', { type: 'button', className: `link ${className}`, textContent: text, onclick: run });
  b.setAttribute('aria-label', `${text}: revision ${n}`);
  return b;
}

function revisionItem(app: string, r: RevisionFacts): HTMLLIElement {
  const n = r.number;
  const li = el(
    'li',
    {},
    el('strong', { textContent: `Revision ${n}` }),
    ...badges(r).map((b) => el('span', { className: `badge ${b}`, textContent: b })),
    el('div', { className: 'muted small', textContent: detail(r, Date.now()) }),
    el(
      'div',
      { className: 'row' },
      revisionAction('Open this code', n, 'open-code', () => void openRevision(app, n)),
      r.current ? '' : revisionAction('Roll back to this', n, 'roll-back', () => void rollback(app, n)),
    ),
  );
  li.dataset.number = String(n);
  li.dataset.current = String(r.current);
  li.dataset.live = String(r.live);
  return li;
}

let revisionsAsked = 0;

/** Lists the app's revisions; a late answer for an earlier question is dropped. */
async function refreshRevisions(): Promise<void> {
  const app = appName();
  if (!session || !app) return;
  const asked = ++revisionsAsked;
  const list = $('revisions');
  try {
    const found = (await api.apps.listRevisions({ app })).revisions.map(facts);
    if (asked !== revisionsAsked) return;
    list.replaceChildren(...found.map((r) => revisionItem(app, r)));
    $('revisions-note').textContent = summary(found);
    $('revision').textContent = String(found.find((r) => r.current)?.number ?? 'none');
  } catch (e) {
    if (asked !== revisionsAsked) return;
    list.replaceChildren();
    const missing = e instanceof ConnectError && e.code === Code.NotFound;
    $('revisions-note').textContent = missing ? `${app} is not deployed yet: each deploy stores a revision here.` : `Could not list the revisions: ${words(e)}`;
    $('revision').textContent = 'none';
  }
}

async function rollback(app: string, to: number): Promise<void> {
  events = [];
  renderStages();
  say(`Rolling back to revision ${to}…`);
  try {
    const res = await api.apps.rollbackApp({ app, toRevision: to });
    // The code in the editor is no longer what runs.
    draft.deployed = undefined;
    saveDraft(true);
    void refreshRevisions();
    await watch(app, res.revision);
  } catch (e) {
    say(`Not rolled back: ${words(e)}`);
  }
}

const plain = (files: File[]): SourceFile[] => files.map((f) => ({ name: f.name, content: f.content }));

/** A stored revision's files as the draft; the fingerprint of what runs
 *  when it is the live one, so that deploying it unchanged says so. */
function revisionDraft(app: string, files: SourceFile[], r: Revision | undefined): Draft {
  const active = files.some((f) => f.name === 'main.py') ? 'main.py' : (files[0]?.name ?? 'main.py');
  return { app, files, active, deployed: r?.current && r.live ? fingerprint(files) : undefined };
}

/** Opens a revision's code as the draft, after asking when that would
 *  replace a draft with other code. */
async function openRevision(app: string, n: number): Promise<void> {
  try {
    const res = await api.apps.getRevision({ app, revision: n });
    const files = plain(res.files);
    if (draft.app === app && fingerprint(files) === fingerprint(currentFiles())) {
      return say(`Your draft already is revision ${n}'s code.`);
    }
    const replace =
      draft.app !== app ||
      (await confirmIt(
        ['Replace your draft of ', el('strong', { textContent: app }), ` with the code of revision ${n}? Your draft's changes will be lost.`],
        `Open revision ${n}`,
      ));
    if (!replace) return say('Kept your draft.');
    saveDraft(true);
    loadDraft(revisionDraft(app, files, res.revision));
    saveDraft(true);
    say(`Opened the code of revision ${n} of ${app} as your draft.`);
  } catch (e) {
    say(`Could not open revision ${n}: ${words(e)}`);
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
          el('button', { type: 'button', className: 'link', textContent: a.name, onclick: () => void openApp(a) }),
          ` ${stageName(a)}, revision ${a.revision} `,
          el('a', { href: a.url, target: '_blank', rel: 'noopener noreferrer', textContent: a.url }),
        ),
      ),
    );
    void refreshRevisions();
  } catch (e) {
    if (isUnauthenticated(e)) loggedOut(`${words(e)}; log in again.`);
  }
}

/** Opens the app's draft in this browser or, when it has none (the app
 *  was deployed from the CLI or another browser), its current code. */
async function openApp(a: App): Promise<void> {
  saveDraft(true);
  const d = drafts.load(a.name);
  if (d) loadDraft(d);
  else {
    try {
      const res = await api.apps.getRevision({ app: a.name, revision: 0 });
      loadDraft(revisionDraft(a.name, plain(res.files), res.revision));
      say(`Opened the current code of ${a.name} (revision ${res.revision?.number}): it was deployed from elsewhere.`);
    } catch (e) {
      loadDraft({ app: a.name, files: [{ name: 'main.py', content: '' }], active: 'main.py' });
      say(`Could not load the code of ${a.name}: ${words(e)}`);
    }
    saveDraft(true);
  }
  $('revision').textContent = String(a.revision || 'none');
  void refreshRevisions();
  events = [];
  renderStages();
  // A sleeping app serves too: the preview's request wakes it.
  const serving = a.status === DeployStage.READY || a.status === DeployStage.SLEEPING;
  $('ready').hidden = !serving;
  if (serving) ready(a.url, a.revision);
}

async function deleteApp(): Promise<void> {
  const name = appName();
  const question = ['Delete ', el('strong', { textContent: name }), ' and all its revisions? This cannot be undone.'];
  if (!(await confirmIt(question, 'Delete', true))) return;
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
    void refreshRevisions();
  } catch (e) {
    say(`Not deleted: ${words(e)}`);
  }
}

// ---- session ----

/** `interactive`: the person just logged in, so the editor takes the focus;
 *  a restored session leaves it at the page's start, for keyboard users. */
function loggedIn(s: Session, interactive = false): void {
  session = s;
  saveSession(s);
  $('who').textContent = s.email;
  $('logout').hidden = false;
  $('auth').hidden = true;
  $('work').hidden = false;
  // Re-check the code now that the server can be asked.
  forceLinting(view);
  void refreshApps();
  if (interactive) view.focus();
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
    loggedIn({ token: res.accessToken, email, expiresAt: res.expiresAt ? timestampMs(res.expiresAt) : undefined }, true);
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
    void refreshRevisions();
  });
  $('deploy').addEventListener('click', () => void deploy());
  $('tabs').addEventListener('keydown', tabKeys);
  $('add-file').addEventListener('click', () => void addFile());
  $('rename-file').addEventListener('click', () => void renameFile());
  $('delete-file').addEventListener('click', () => void deleteFile());
  $('file-cancel').addEventListener('click', () => $<HTMLDialogElement>('file-dialog').close(''));
  $('refresh-revisions').addEventListener('click', () => void refreshRevisions());
  $('history-panel').addEventListener('toggle', () => {
    if (($('history-panel') as HTMLDetailsElement).open) void refreshRevisions();
  });
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

