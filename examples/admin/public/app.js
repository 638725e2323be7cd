// The admin page: sign in with an Admin key, list keys, create, edit, rotate, revoke and delete
// them.
// keymint's own TTL parser, in its browser build, checks the Time to live field as it is typed.
// A new key lives only in the DOM of its one-time display: never in storage or the URL.
import { isKeymintError, parseTtl } from '/vendor/keymint/ttl.js';
import { clearAuditLog, loadAuditLog } from '/audit.js';

const $ = (id) => document.getElementById(id);

// What keymint refuses in new names (invisible characters, direction controls, odd spaces), and
// controls: a key named before that rule could hold one, which would hide or reorder the text
// around it. Shown as its escape (\u202E), as the keymint command shows it.
const UNSHOWABLE =
  /[\p{Cf}\p{Default_Ignorable_Code_Point}\p{Cc}\p{Zl}\p{Zp}\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000\u2800]/gu;
const shown = (text) =>
  String(text).replace(UNSHOWABLE, (character) =>
    [...Array(character.length).keys()]
      .map((i) => `\\u${character.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0')}`)
      .join(''),
  );

const status = $('status');
const signInSection = $('sign-in');
const signInForm = $('sign-in-form');
const adminKeyInput = $('admin-key');
const signInError = $('sign-in-error');
const account = $('account');
const adminArea = $('admin');
const createForm = $('create-form');
const nameInput = $('key-name');
const roleSelect = $('key-role');
const ttlInput = $('key-ttl');
const ttlError = $('key-ttl-error');
const addButton = $('add');
const createError = $('create-error');
const createdSlot = $('created-slot');
const keysBody = $('keys');
const keysTitle = $('keys-title');
const confirmDialog = $('confirm');
const editDialog = $('edit');
const editForm = $('edit-form');
const editName = $('edit-name');
const editRole = $('edit-role');
const editError = $('edit-error');
const rotateDialog = $('rotate');
const rotateForm = $('rotate-form');
const rotateGrace = $('rotate-grace');
const rotateError = $('rotate-error');
/** The longest grace period keymint allows: 7 days. */
const MAX_GRACE_SECONDS = 7 * 86_400;

/**
 * What GET /session said: { name, keyId, defaultTtl, maxTtlSeconds, permissions }, or null;
 * `permissions` is each role's grants.
 */
let session = null;

// ---------------------------------------------------------------------------------------------
// Talking to the server

class SignedOut extends Error {}

/** JSON in, JSON out. A 401 from the keys API means the session ended. */
async function api(path, { method = 'GET', body } = {}) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    // An empty or non-JSON answer: keep data null.
  }
  if (response.status === 401 && path.startsWith('/api/auth/keys')) throw new SignedOut();
  if (!response.ok) {
    const error = new Error(data?.message ?? `The server answered ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

function say(text) {
  // Cleared first, so the same message twice is announced twice.
  status.textContent = '';
  setTimeout(() => (status.textContent = text), 50);
}

/** Runs an action of the signed-in admin; a lost session shows the sign-in form. */
async function asAdmin(action) {
  try {
    return await action();
  } catch (error) {
    if (error instanceof SignedOut) {
      showSignIn('Your session has ended: its admin key is no longer valid. Sign in again.');
      return undefined;
    }
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Sign in and out

function showSignIn(message = '') {
  session = null;
  for (const dialog of [editDialog, rotateDialog, confirmDialog]) if (dialog.open) dialog.close();
  removeCreatedKey();
  keysBody.replaceChildren();
  clearAuditLog();
  adminArea.hidden = true;
  account.hidden = true;
  signInSection.hidden = false;
  if (message) say(message);
  adminKeyInput.focus();
}

async function showAdmin() {
  signInSection.hidden = true;
  adminArea.hidden = false;
  account.hidden = false;
  $('account-name').textContent = shown(session.name);
  $('key-ttl-default').textContent = `Empty: ${session.defaultTtl}.`;
  checkTtl();
  showPermissions($('key-permissions'), roleSelect.value, null);
  await asAdmin(loadKeys);
}

async function start() {
  const info = await api('/session');
  if (info?.signedIn) {
    session = info;
    await showAdmin();
  } else {
    showSignIn();
  }
}

signInForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const key = adminKeyInput.value.trim();
  signInError.textContent = '';
  adminKeyInput.removeAttribute('aria-invalid');
  if (key === '') {
    signInError.textContent = 'Enter an Admin API key.';
    adminKeyInput.setAttribute('aria-invalid', 'true');
    adminKeyInput.focus();
    return;
  }
  const button = signInForm.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    await api('/session', { method: 'POST', body: { key } });
    adminKeyInput.value = ''; // the key is not needed any more: the cookie stands for it
    const info = await api('/session');
    if (!info?.signedIn) throw new Error('The session did not start; are cookies allowed?');
    session = info;
    await showAdmin();
    say(`Signed in with ${shown(session.name)}.`);
    keysTitle.focus();
  } catch (error) {
    signInError.textContent = error.message;
    adminKeyInput.setAttribute('aria-invalid', 'true');
    adminKeyInput.focus();
  } finally {
    button.disabled = false;
  }
});

$('sign-out').addEventListener('click', async () => {
  try {
    await api('/session/end', { method: 'POST', body: {} });
  } finally {
    showSignIn('Signed out.');
  }
});

// ---------------------------------------------------------------------------------------------
// Permissions: one checkbox per permission of the chosen role

const grantsOf = (role) => session?.permissions?.[role] ?? [];

/** Shows the role's permissions in `fieldset`, checked when in `checked` (all when null). */
function showPermissions(fieldset, role, checked) {
  const choices = fieldset.querySelector('.choices');
  const boxes = grantsOf(role).map((permission, i) => {
    const id = `${fieldset.id}-${i}`;
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.id = id;
    box.value = permission;
    box.checked = checked === null || checked.includes(permission);
    const label = document.createElement('label');
    label.htmlFor = id;
    label.textContent = permission;
    const choice = document.createElement('span');
    choice.append(box, ' ', label);
    return choice;
  });
  choices.replaceChildren(...boxes);
}

/** The checked permissions, or null when all of the role's are (the key then follows its role). */
function chosenPermissions(fieldset, role) {
  const checked = [...fieldset.querySelectorAll('input:checked')].map((box) => box.value);
  return checked.length === grantsOf(role).length ? null : checked;
}

// ---------------------------------------------------------------------------------------------
// The key list

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function dateCell(iso, fallback) {
  const cell = document.createElement('td');
  if (!iso) {
    cell.textContent = fallback;
    return cell;
  }
  const time = document.createElement('time');
  time.dateTime = iso;
  time.textContent = dateFormat.format(new Date(iso));
  cell.append(time);
  return cell;
}

function statusOf(key) {
  if (key.isRevoked) return 'Revoked';
  if (key.expiration && Date.parse(key.expiration) <= Date.now()) return 'Expired';
  return 'Active';
}

function actionButton(label, key, action, className) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = className;
  button.textContent = label;
  button.setAttribute('aria-label', `${label} ${shown(key.name)}`);
  button.addEventListener('click', () => action(key, button));
  return button;
}

function row(key) {
  const tr = document.createElement('tr');
  tr.dataset.id = key.id;
  const name = document.createElement('th');
  name.scope = 'row';
  name.textContent = shown(key.name);
  if (session && key.id === session.keyId) {
    const you = document.createElement('span');
    you.className = 'you';
    you.textContent = ' (you)';
    name.append(you);
  }
  const role = document.createElement('td');
  role.textContent = key.role;
  const permissions = document.createElement('td');
  permissions.className = 'permission-list';
  const all = key.permissions?.join(' ') === grantsOf(key.role).join(' ');
  permissions.textContent = all
    ? `All of ${key.role}`
    : key.permissions?.length
      ? key.permissions.join(', ')
      : 'None';
  // Who the key belongs to (a user or service account id of the host), when it has an owner.
  const owner = document.createElement('td');
  owner.textContent = key.owner === undefined ? '—' : shown(key.owner);
  const state = statusOf(key);
  const badge = document.createElement('span');
  badge.className = `badge ${state.toLowerCase()}`;
  badge.textContent = state;
  const stateCell = document.createElement('td');
  stateCell.className = 'key-status';
  stateCell.append(badge);
  const actions = document.createElement('td');
  const buttons = document.createElement('div');
  buttons.className = 'row-actions';
  if (state === 'Active') {
    buttons.append(actionButton('Edit', key, openEdit, 'secondary'));
    buttons.append(actionButton('Rotate', key, openRotate, 'secondary'));
  }
  if (!key.isRevoked) buttons.append(actionButton('Revoke', key, revoke, 'secondary'));
  buttons.append(actionButton('Delete', key, remove, 'danger'));
  actions.append(buttons);
  tr.append(
    name,
    role,
    permissions,
    owner,
    dateCell(key.expiration, 'Never'),
    dateCell(key.lastUsedAt, 'Never'),
    stateCell,
    actions,
  );
  return tr;
}

async function loadKeys() {
  const keys = await api('/api/auth/keys?includeExpired=true');
  keysBody.replaceChildren(...keys.map(row));
  $('no-keys').hidden = keys.length > 0;
  await loadAuditLog();
}

/** Asks with the native <dialog>; resolves true for Confirm, false for Cancel or Escape. */
function confirmAction(title, text, confirmLabel) {
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = confirmLabel;
  confirmDialog.returnValue = '';
  confirmDialog.showModal();
  return new Promise((resolve) => {
    confirmDialog.addEventListener(
      'close',
      () => resolve(confirmDialog.returnValue === 'confirm'),
      { once: true },
    );
  });
}

/** After the list is redrawn: the named button of the key's new row, else the list heading. */
function focusRow(id, label) {
  const target = [...keysBody.querySelectorAll('tr')]
    .find((tr) => tr.dataset.id === id)
    ?.querySelector(`button[aria-label^="${label} "]`);
  (target ?? keysTitle).focus();
}

async function revoke(key, button) {
  const yes = await confirmAction(
    `Revoke ${shown(key.name)}?`,
    `Requests with the key ${shown(key.name)} will be refused from now on. The key stays listed as revoked until you delete it.`,
    'Revoke key',
  );
  if (!yes) {
    button.focus();
    return;
  }
  try {
    await asAdmin(async () => {
      await api(`/api/auth/keys/${encodeURIComponent(key.id)}/revoke`, {
        method: 'POST',
        body: {},
      });
      say(`Revoked ${shown(key.name)}.`);
      await loadKeys();
      focusRow(key.id, 'Delete');
    });
  } catch (error) {
    say(`Could not revoke ${shown(key.name)}: ${error.message}`);
  }
}

async function remove(key, button) {
  const yes = await confirmAction(
    `Delete ${shown(key.name)}?`,
    `The key ${shown(key.name)} will be refused and removed from the list; its name can then be used again.`,
    'Delete key',
  );
  if (!yes) {
    button.focus();
    return;
  }
  try {
    await asAdmin(async () => {
      await api(`/api/auth/keys/${encodeURIComponent(key.id)}`, { method: 'DELETE' });
      say(`Deleted ${shown(key.name)}.`);
      await loadKeys();
      keysTitle.focus();
    });
  } catch (error) {
    say(`Could not delete ${shown(key.name)}: ${error.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Edit: name and role (PATCH /api/auth/keys/:id)

/** The key the edit or rotate dialog is about, and the button that opened it. */
let target = null;

function closeDialog(dialog) {
  dialog.close();
  target?.button.focus();
}

function openEdit(key, button) {
  target = { key, button };
  $('edit-title').textContent = `Edit ${shown(key.name)}`;
  editName.value = key.name;
  editRole.value = key.role;
  showPermissions($('edit-permissions'), key.role, key.permissions ?? null);
  editError.textContent = '';
  editName.removeAttribute('aria-invalid');
  editDialog.showModal();
  editName.focus();
}

$('edit-cancel').addEventListener('click', () => closeDialog(editDialog));

editForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const { key } = target;
  const name = editName.value.trim();
  if (name === '') {
    editError.textContent = 'Enter a name for the key.';
    editName.setAttribute('aria-invalid', 'true');
    editName.focus();
    return;
  }
  // Only what changed: an unchanged name is not checked against the others again.
  const patch = {};
  if (name !== key.name) patch.name = name;
  if (editRole.value !== key.role) patch.role = editRole.value;
  const permissions = chosenPermissions($('edit-permissions'), editRole.value);
  const held = (key.permissions ?? []).join(' ');
  const heldAll = held === grantsOf(key.role).join(' ');
  // All checked: the key follows its role, which a key holding all of its role already does.
  // A list: sent with a new role (the server would narrow on its own), or when it changed.
  const changed =
    permissions === null ? !heldAll : Boolean(patch.role) || permissions.join(' ') !== held;
  if (changed) patch.permissions = permissions;
  if (Object.keys(patch).length === 0) {
    closeDialog(editDialog);
    say(`Nothing to change for ${shown(key.name)}.`);
    return;
  }
  const save = $('edit-save');
  save.disabled = true;
  try {
    await asAdmin(async () => {
      const updated = await api(`/api/auth/keys/${encodeURIComponent(key.id)}`, {
        method: 'PATCH',
        body: patch,
      });
      editDialog.close();
      say(`Saved ${shown(updated.name)}: role ${updated.role}.`);
      await loadKeys();
      focusRow(updated.id, 'Edit');
    });
  } catch (error) {
    editError.textContent = error.message;
    editName.setAttribute('aria-invalid', 'true');
    editName.focus();
  } finally {
    save.disabled = false;
  }
});

// ---------------------------------------------------------------------------------------------
// Rotate: a new secret, the old one valid for a grace period (POST /api/auth/keys/:id/rotate)

/** The grace period in seconds, or keymint's message for a bad one. */
function graceOf(text) {
  const value = text.trim();
  if (value === '' || value === '0') return { seconds: 0 };
  try {
    return { seconds: parseTtl(value, { max: MAX_GRACE_SECONDS }) };
  } catch (error) {
    return { problem: isKeymintError(error) ? error.message : 'Invalid grace period' };
  }
}

function checkGrace() {
  const { problem = '' } = graceOf(rotateGrace.value);
  rotateGrace.setCustomValidity(problem);
  rotateError.textContent = problem;
  if (problem) rotateGrace.setAttribute('aria-invalid', 'true');
  else rotateGrace.removeAttribute('aria-invalid');
  $('rotate-ok').disabled = problem !== '';
  return problem === '';
}

rotateGrace.addEventListener('input', checkGrace);

function openRotate(key, button) {
  target = { key, button };
  $('rotate-title').textContent = `Rotate ${shown(key.name)}?`;
  rotateGrace.value = '1h';
  checkGrace();
  rotateDialog.showModal();
  rotateGrace.focus();
}

$('rotate-cancel').addEventListener('click', () => closeDialog(rotateDialog));

rotateForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!checkGrace()) {
    rotateGrace.focus();
    return;
  }
  const { key } = target;
  const { seconds } = graceOf(rotateGrace.value);
  const ok = $('rotate-ok');
  ok.disabled = true;
  try {
    await asAdmin(async () => {
      const rotated = await api(`/api/auth/keys/${encodeURIComponent(key.id)}/rotate`, {
        method: 'POST',
        body: { gracePeriod: seconds },
      });
      rotateDialog.close();
      // The server caps the grace at the old key's own expiry: never later than that.
      const expires = key.expiration ? Date.parse(key.expiration) : Infinity;
      const until = Math.min(Date.now() + seconds * 1000, expires);
      const note =
        seconds === 0
          ? 'The old key no longer works.'
          : `The old key keeps working until ${dateFormat.format(new Date(until))}, then is refused.`;
      showCreatedKey({ name: rotated.name, key: rotated.key }, note);
      say(`Rotated ${shown(rotated.name)}. Copy its new key now: it will not be shown again.`);
      await loadKeys();
    });
  } catch (error) {
    rotateError.textContent = error.message;
    rotateGrace.focus();
  } finally {
    ok.disabled = false;
  }
});

// ---------------------------------------------------------------------------------------------
// New key

/** keymint's own message for a bad time to live, or '' when it is fine (or empty). */
function ttlProblem() {
  const value = ttlInput.value;
  if (value.trim() === '') return '';
  try {
    parseTtl(value, session ? { max: session.maxTtlSeconds } : undefined);
    return '';
  } catch (error) {
    return isKeymintError(error) ? error.message : 'Invalid time to live';
  }
}

function checkTtl() {
  const problem = ttlProblem();
  ttlInput.setCustomValidity(problem);
  ttlError.textContent = problem;
  if (problem) ttlInput.setAttribute('aria-invalid', 'true');
  else ttlInput.removeAttribute('aria-invalid');
  addButton.disabled = problem !== '';
  return problem === '';
}

ttlInput.addEventListener('input', checkTtl);
roleSelect.addEventListener('change', () =>
  showPermissions($('key-permissions'), roleSelect.value, null),
);
editRole.addEventListener('change', () => {
  // Keep what is still granted under the new role; all of it when nothing would be left.
  const kept = [...$('edit-permissions').querySelectorAll('input:checked')].map((b) => b.value);
  const left = kept.filter((p) => grantsOf(editRole.value).includes(p));
  showPermissions($('edit-permissions'), editRole.value, left.length ? left : null);
});

createForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  createError.textContent = '';
  if (!checkTtl()) {
    ttlInput.focus();
    return;
  }
  const name = nameInput.value.trim();
  if (name === '') {
    createError.textContent = 'Enter a name for the key.';
    nameInput.setAttribute('aria-invalid', 'true');
    nameInput.focus();
    return;
  }
  nameInput.removeAttribute('aria-invalid');
  const ttl = ttlInput.value.trim() || session.defaultTtl;
  const permissions = chosenPermissions($('key-permissions'), roleSelect.value);
  addButton.disabled = true;
  try {
    await asAdmin(async () => {
      const created = await api('/api/auth/keys', {
        method: 'POST',
        body: {
          name,
          role: roleSelect.value,
          ttl,
          ...(permissions !== null && { permissions }),
        },
      });
      createForm.reset();
      showPermissions($('key-permissions'), roleSelect.value, null);
      showCreatedKey(created);
      say(`Created ${shown(created.name)}. Copy its key now: it will not be shown again.`);
      await loadKeys();
    });
  } catch (error) {
    createError.textContent = error.message;
    (error.status === 409 ? nameInput : addButton).focus();
  } finally {
    checkTtl();
  }
});

// ---------------------------------------------------------------------------------------------
// The one-time display of a new key

function removeCreatedKey() {
  const shown = createdSlot.querySelector('input');
  if (shown) shown.value = '';
  createdSlot.replaceChildren();
}

function showCreatedKey({ name, key }, note = '') {
  removeCreatedKey();
  const section = $('created-template').content.firstElementChild.cloneNode(true);
  section.querySelector('.created-name').textContent = `for ${name}`;
  section.querySelector('.created-note').textContent = note;
  section.querySelector('.created-note').hidden = note === '';
  const field = section.querySelector('input');
  field.value = key;
  field.addEventListener('focus', () => field.select());
  const copy = section.querySelector('.copy');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(field.value);
      say('Key copied to the clipboard.');
    } catch {
      field.focus();
      field.select();
      say('Copying is not allowed here: the key is selected, press Ctrl+C (or ⌘C) to copy it.');
    }
  });
  section.querySelector('.dismiss').addEventListener('click', () => {
    removeCreatedKey();
    say(`The key of ${name} is hidden.`);
    nameInput.focus();
  });
  createdSlot.append(section);
  field.focus();
}

start().catch((error) => say(`Could not load the page: ${error.message}`));
