// The audit log section of the admin page: what keymint's onEvent reported to this server,
// newest first (GET /api/audit). app.js calls loadAuditLog() after each redraw of the key list
// and clearAuditLog() on sign-out.

const $ = (id) => document.getElementById(id);
const body = $('audit');
const empty = $('no-audit');
const problem = $('audit-error');

// As in app.js: invisible and direction characters shown as their escape, never as they are.
const UNSHOWABLE =
  /[\p{Cf}\p{Default_Ignorable_Code_Point}\p{Cc}\p{Zl}\p{Zp}\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000\u2800]/gu;
const shown = (text) =>
  String(text).replace(UNSHOWABLE, (character) =>
    [...Array(character.length).keys()]
      .map((i) => `\\u${character.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0')}`)
      .join(''),
  );

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const when = (iso) => (iso ? dateFormat.format(new Date(iso)) : 'never');
const value = (field, data) =>
  field === 'expiresAt' ? when(data) : typeof data === 'string' ? data : JSON.stringify(data);

/** What changed, in words: one line per event type (see the KeymintEvent type of keymint). */
function changesOf(entry) {
  switch (entry.type) {
    case 'key.created':
      return `role ${entry.role}, expires ${when(entry.expiresAt)}`;
    case 'key.updated':
      return Object.entries(entry.changes ?? {})
        .map(([field, { from, to }]) => `${field}: ${value(field, from)} → ${value(field, to)}`)
        .join('; ');
    case 'key.rotated':
      return `new secret; the old one works until ${when(entry.previousSecretExpiresAt)}`;
    case 'key.revoked':
      return `revoked ${when(entry.revokedAt)}`;
    case 'key.leaked':
      return [
        `reported at ${entry.url ?? 'an unknown place'}`,
        entry.source ? `(${entry.source})` : '',
        entry.revoked ? 'and revoked' : 'not revoked',
      ]
        .filter(Boolean)
        .join(' ');
    case 'key.purged':
      return `${entry.count} keys expired before ${when(entry.expiredBefore)} deleted`;
    default:
      return '';
  }
}

function cell(text, tag = 'td') {
  const element = document.createElement(tag);
  element.textContent = text;
  return element;
}

function row(entry) {
  const tr = document.createElement('tr');
  const at = document.createElement('td');
  const time = document.createElement('time');
  time.dateTime = entry.at;
  time.textContent = when(entry.at);
  at.append(time);
  const type = cell('');
  const code = document.createElement('code');
  code.textContent = entry.type;
  type.append(code);
  const actor = entry.actor ? shown(entry.actor.name) : '(none)';
  tr.append(
    at,
    type,
    cell(entry.keyId ?? ''),
    cell(entry.name === undefined ? '' : shown(entry.name)),
    cell(actor),
    cell(shown(changesOf(entry))),
  );
  return tr;
}

/** Redraws the audit log; a failure shows in the section, never breaks the page. */
export async function loadAuditLog() {
  try {
    const response = await fetch('/api/audit?limit=100', { cache: 'no-store' });
    if (!response.ok) throw new Error(`The server answered ${response.status}`);
    const entries = await response.json();
    body.replaceChildren(...entries.map(row));
    empty.hidden = entries.length > 0;
    problem.textContent = '';
  } catch (error) {
    problem.textContent = `Could not load the audit log: ${error.message}`;
  }
}

export function clearAuditLog() {
  body.replaceChildren();
  problem.textContent = '';
}

$('audit-refresh').addEventListener('click', () => void loadAuditLog());
