import type { CommandName } from './args.js';

const EXIT_CODES = `Exit codes:
  0  success (verify: the key is valid; scan: no key found)
  1  verify: the key is not valid; the reason is printed. scan: keys were found
  2  usage error: unknown command or option, missing value, extra or misplaced argument
  3  refused by keymint: INVALID_TTL, TTL_TOO_LONG, INVALID_ROLE, INVALID_INPUT,
     NAME_TAKEN, NOT_FOUND, FORBIDDEN, REVOKED, EXPIRED, CONFLICT (the code and
     message are printed; nothing was changed)
  4  failure: the store is unavailable (STORE_FAILURE, driver missing, cannot open
     the database), HASHER_FAILURE, BUSY, output that cannot be written (create
     then deletes the key it made; rotate's rotation stands, see its help), or
     anything unexpected`;

const COMMON = `Common options:
  --db <target>  Where keys live (or env KEYMINT_DB). Default: keymint.db in the current
                 folder. A path, sqlite:<path> or file:<path> (SQLite, needs better-sqlite3),
                 postgres://... or postgresql://... (needs pg), redis://... or rediss://...
                 (needs ioredis). The schema is applied (idempotent migrate) before use.
  --json         Machine-readable output on stdout, dates in ISO 8601
  -h, --help     Show help`;

const GENERAL = `Usage: keymint <command> [options]

Create, list, change, rotate, revoke and check keymint API keys in a SQLite, PostgreSQL or Redis store.

Commands:
  create   Create a key and print it, the only time it is shown
  list     List a scope's keys (never a key or its hash)
  update   Rename a key, change its role or give it a new expiry
  rotate   Give a key a new secret and print the new key; the old one may keep working
  revoke   Revoke a key by id
  delete   Delete a key by id; its name becomes free again
  verify   Check a key: exit 0 when valid, 1 when not
  purge    Delete expired keys
  rules    Print gitleaks or TruffleHog rules that find keys (no store needed)
  scan     Find keys in files and folders; --revoke revokes the ones that verify

${COMMON}
  -V, --version  Print the version

${EXIT_CODES}

Environment: KEYMINT_DB (--db), KEYMINT_KEY (the key for verify), KEYMINT_DEBUG=1 (stack
traces on failure), KEYMINT_PERMISSIONS (the host's permissions map, as JSON or the path of a
JSON file: {"Viewer":["dashboards:read"],"Editor":["dashboards:write"]}; needed by --permission).

Run 'keymint <command> --help' for a command's options.
`;

const COMMAND_HELP: Record<CommandName, string> = {
  create: `Usage: keymint create --name <name> --role <role> --ttl <ttl> [--scope <scope>] [--owner <owner>]
                     [--permission <permission>]...
                     [--rate-limit <limit>/<window>] [--credits <n>]

Creates a key. stdout gets the key alone, on one line, and nothing else; the details (id,
name, role, scope, expiry) go to stderr. The key is shown this once: keymint keeps only a hash.
If the key or its details cannot be written (the reader of the pipe is gone, the disk is full),
the key is deleted and the command exits 4: no key is left that nobody received.

  KEY=$(keymint create --name ci --role Editor --ttl 12h)

Options:
  --name <name>    Unique within the scope; 1 to 190 characters
  --role <role>    Viewer, Editor or Admin (any letter case)
  --ttl <ttl>      A whole number and a unit: s, m, h, d, w or M (30 days), for example
                   12h or 1M; at most 30 days. Required: keys that never expire are refused.
  --scope <scope>  The tenant (Grafana's organisation). Default: default
  --permission <p> Narrow the key to this permission of its role, for example
                   dashboards:read; repeat it for more. Default: all the role grants.
                   Needs KEYMINT_PERMISSIONS (the host's map)
  --owner <owner>  The user or service account the key belongs to (an id of yours)
  --rate-limit <limit>/<window>
                   At most <limit> verifications per window, for example 100/1m
  --credits <n>    Credits the key spends, one per verification (docs/limits.md)
  --json           Print { id, name, role, scope, expiresAt, key } instead (and owner when set)

A new SQLite file is created readable and writable by its owner only (mode 0600).
`,
  list: `Usage: keymint list [--scope <scope>] [--owner <owner>] [--include-expired]

Prints a scope's keys sorted by name: id, name, role, expiry, last use, revocation. Never a key
or a hash.

Options:
  --scope <scope>    Default: default
  --owner <owner>    Only the keys of this owner
  --include-expired  Also list keys past their expiry
  --json             Print a JSON array of records instead
`,
  update: `Usage: keymint update <id> [--name <name>] [--role <role>] [--ttl <ttl>]
                     [--permission <permission>]... [--all-permissions]

Changes a key: its id, secret and history stay. At least one option. A revoked or expired key
cannot be changed (REVOKED, EXPIRED: exit 3). Prints the changed key, never the key itself.

  keymint update AbC123dEf456 --role Viewer --ttl 30d

Options:
  --name <name>  A new name, unique within the key's scope
  --role <role>  Viewer, Editor or Admin (any letter case); the key verifies with it at once
  --ttl <ttl>    A new expiry counted from now, for example 30d; at most 30 days
  --permission <p>   Replace the key's permissions with these (repeat it), within its role;
                     a new --role alone narrows them to the new role. Needs KEYMINT_PERMISSIONS
  --all-permissions  Let the key hold everything its role grants again
  --json         Print the key's record instead
`,
  rotate: `Usage: keymint rotate <id> [--grace <ttl>] [--ttl <ttl>]

Gives a key a new secret. stdout gets the new key alone, on one line; the details (id, name,
expiry, until when the old key works) go to stderr. The key keeps its id, name, role, scope
and history. The new key is shown this once: keymint keeps only a hash.

  NEW_KEY=$(keymint rotate AbC123dEf456 --grace 1h)

With --grace, the old key keeps working that long (at most 7 days, never past its own
expiry), then is refused as rotated; without it, the old key stops at once. Only one old key is
kept: rotating again ends the previous one's grace at once.

If the new key cannot be written (the reader of the pipe is gone, the disk is full), the
command exits 4 and the rotation stands: it cannot be undone, and rotating again would end
the old key's grace at once. The message says until when the old key works; run rotate again
to get a new key you receive, or revoke the key.

Options:
  --grace <ttl>  How long the old key keeps working, for example 1h or 2d. Default: 0
  --ttl <ttl>    The new expiry from now. Default: the key's own time to live
  --json         Print { id, name, role, scope, expiresAt, previousKeyExpiresAt, key }
`,
  revoke: `Usage: keymint revoke <id>
       keymint revoke --owner <owner> [--scope <scope>]

Revokes a key: verify refuses it from now on. Revoking a revoked key changes nothing.
With --json, prints the key's record. With --owner, revokes every key of that owner in the
scope (default: default) in one step, and prints how many (--json: { owner, scope, revoked }).
`,
  delete: `Usage: keymint delete <id>

Deletes a key's record. Its name can then be used again. With --json, prints { id, deleted }.
`,
  verify: `Usage: keymint verify [<key> | -] [--role <role>] [--scope <scope>] [--permission <p>]...

Checks a key. Exit 0 when it is valid, 1 when it is not, with the reason: malformed,
not_found, expired, revoked, rotated, insufficient_role, insufficient_permission, rate_limited
or busy. The key is never printed.

Where the key comes from, in this order:
  <key>            The argument. Avoid it: it lands in shell history and in ps.
  -                stdin
  KEYMINT_KEY      The environment variable, when no argument is given
  stdin            When no argument is given, KEYMINT_KEY is unset and stdin is not a terminal

  printf '%s' "$KEY" | keymint verify --role Editor

Options:
  --role <role>    The minimum role; a key below it is insufficient_role
  --scope <scope>  Only keys of this scope are valid
  --permission <p> Required permission (repeat it); a key without one is
                   insufficient_permission. Needs KEYMINT_PERMISSIONS
  --json           Print { valid: true, apiKey } or { valid: false, reason }
`,
  purge: `Usage: keymint purge [--older-than <ttl>]

Deletes every key, in every scope, that has expired (at least <ttl> ago with --older-than),
and prints how many. Revoked keys that have not expired are kept.

Options:
  --older-than <ttl>  Keep keys that expired less than this long ago, for example 7d
  --json              Print { purged: <count> }
`,
  rules: `Usage: keymint rules --format gitleaks|trufflehog [--prefix <prefix>]

Prints a secret-scanner rule for keys with this prefix (default km): a gitleaks [[rules]]
entry (TOML) or a TruffleHog custom detector (YAML). The regex has no lookarounds (Go's RE2
takes it), with the keyword <prefix>_ and a minimum entropy. Opens no store.

  keymint rules --format gitleaks >> .gitleaks.toml
  keymint rules --format trufflehog > keymint-detector.yaml

Options:
  --format <format>  gitleaks or trufflehog (required)
  --prefix <prefix>  The instance's key prefix. Default: km
`,
  scan: `Usage: keymint scan <path...> [--revoke] [--prefix <prefix>]

Looks through files and folders for key-shaped strings whose checksum holds, and prints
<file>:<line>:<column> <id> <name> for each (name '-' when the store has no such id). Never the
key. Skips .git folders, symbolic links, binary files (a NUL byte in the first 8 KiB) and files
over 10 MiB; a summary goes to stderr. Exit 0 when nothing was found, 1 when keys were found.

  keymint scan . --db postgres://...

Options:
  --revoke           Revoke each key found that verifies (a key.leaked event, source
                     'keymint scan'); stderr says 'revoked <id>' for each
  --prefix <prefix>  The instance's key prefix. Default: km
  --json             Print [{ file, line, column, id, name, truePositive?, revoked? }]
`,
};

/** The help text of `command`, or the general help. */
export function helpText(command?: CommandName): string {
  if (!command) return GENERAL;
  return `${COMMAND_HELP[command]}\n${COMMON}\n\n${EXIT_CODES}\n`;
}
