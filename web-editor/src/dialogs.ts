// In-page dialogs (<dialog> with showModal: focus moves in, stays in, and
// comes back on close; Escape cancels), instead of the browser's prompt,
// alert and confirm, which screen readers and phones handle poorly and
// which cannot say what is wrong with an answer.
import { $ } from './dom';

function closed(dialog: HTMLDialogElement): Promise<string> {
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue), { once: true }));
}

/** Asks a yes/no question; true only for the `yes` button. */
export async function confirmIt(question: (Node | string)[], yes: string, danger = false): Promise<boolean> {
  const dialog = $<HTMLDialogElement>('confirm');
  $('confirm-text').replaceChildren(...question);
  const button = $<HTMLButtonElement>('confirm-yes');
  button.textContent = yes;
  button.className = danger ? 'danger' : '';
  dialog.returnValue = '';
  dialog.showModal();
  return (await closed(dialog)) === 'yes';
}

/** Asks for a file name; `problem` says what is wrong with an answer (the
 *  dialog stays open and shows it) or undefined when it is fine. Undefined
 *  when cancelled. */
export async function askFileName(
  title: string,
  action: string,
  initial: string,
  problem: (name: string) => string | undefined,
): Promise<string | undefined> {
  const dialog = $<HTMLDialogElement>('file-dialog');
  const form = $<HTMLFormElement>('file-form');
  const input = $<HTMLInputElement>('file-name');
  const error = $('file-error');
  $('file-dialog-title').textContent = title;
  $('file-ok').textContent = action;
  input.value = initial;
  error.textContent = '';
  input.removeAttribute('aria-invalid');
  const submit = (e: SubmitEvent) => {
    e.preventDefault();
    const name = input.value.trim();
    const wrong = name ? problem(name) : 'Type a file name, like routes.py.';
    if (wrong) {
      error.textContent = wrong;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    dialog.close(name);
  };
  form.addEventListener('submit', submit);
  dialog.returnValue = '';
  dialog.showModal();
  input.select();
  const answer = await closed(dialog);
  form.removeEventListener('submit', submit);
  return answer || undefined;
}
