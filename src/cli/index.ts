import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { inspectEnvironment, loadConfig } from '../config/config.js';
import { generateEncryptionKeyText } from '../config/encryption-keys.js';
import { ConfigError, formatFinding } from '../config/findings.js';

/** One command's help: what `rampart <command> --help` prints, and its entry in the global usage. */
interface CommandHelp {
  /** The words that name it (`['users', 'create']`). */
  readonly words: readonly string[];
  /** The synopsis and description, as they appear in the usage. */
  readonly text: string;
}

const COMMANDS: readonly CommandHelp[] = [
  { words: ['check'], text: `  check                   Check the configuration of the current environment (NODE_ENV) as a
                          start would, without starting; exit 1 if it would refuse to start.` },
  { words: ['check'], text: `  check --deploy          Print every configuration finding for the current environment
                          without starting; exit 1 if any is an error.` },
  { words: ['migrate'], text: '  migrate                 Apply pending database migrations (as DATABASE_MIGRATION_URL when set).' },
  { words: ['secrets', 'generate'], text: '  secrets generate        Print a new random RAMPART_SECRET_KEY value.' },
  { words: ['keys', 'generate'], text: '  keys generate [--id ID] Print a new RAMPART_ENCRYPTION_KEYS entry (default id: the date).' },
  { words: ['keys', 'rotate-signing'], text: `  keys rotate-signing     Add a new access-token signing key; the previous one verifies until
                          its tokens have expired, then is retired.` },
  { words: ['keys', 'retire-signing'], text: `  keys retire-signing KID --now
                          Retire a (compromised) signing key at once: every token it signed is
                          refused on every instance from their next request; a new key takes
                          over when it was the active one.` },
  { words: ['keys', 'rotate-encryption'], text: `  keys rotate-encryption  Re-encrypt every encrypted column under the active key (the first of
                          RAMPART_ENCRYPTION_KEYS), in batches; run again to resume. Progress
                          on stderr: a bar on a terminal, JSON lines otherwise. Exit 1 names
                          rows that did not decrypt.` },
  { words: ['keys', 'rebuild-index'], text: `  keys rebuild-index      After a RAMPART_SECRET_KEY rotation: rebuild every blind index and
                          reseal the signing keys' MACs under the new secret (lookups try
                          RAMPART_SECRET_KEY_FALLBACKS meanwhile); run again to resume.` },
  { words: ['events', 'verify'], text: `  events verify           Check the security event log's hash chain; exit 1 naming the first
                          broken (edited, deleted or reordered) row.` },
  { words: ['users', 'create'], text: `  users create --email E --name N [--admin] [--password-stdin]
                          Create a verified user (an administrator with --admin). The password
                          is prompted for with echo off, or read from stdin.` },
  { words: ['events', 'prune'], text: `  events prune            Erase the client IP of security events older than
                          RAMPART_EVENT_RETENTION_DAYS (the servers also do it hourly).` },
  { words: ['tls', 'init'], text: `  tls init --host H [--host H2 …] [--out DIR] [--days N] [--force]
                          Write a private key (ECDSA P-256, mode 0600), a certificate signing
                          request for the hosts, and a self-signed development certificate
                          (default 90 days) to DIR (default ./data/tls). Existing files are
                          kept unless --force.` },
  { words: ['scan'], text: `  scan <url> [options]    Audit a running deployment from the outside (headers, cookies, TLS,
                          error leakage, CORS, security.txt); read-only. \`rampart scan --help\`
                          lists its options.` },
  { words: ['help'], text: `  help [COMMAND]          Show this text, or one command's help (also: rampart COMMAND --help).` },
];

const USAGE = `Usage: rampart <command> [options]

Commands:
${COMMANDS.map((c) => c.text).join('\n')}
`;

/** The help of the commands `words` names (`users`, `users create`), or null when it names none. */
function commandHelp(words: readonly string[]): string | null {
  const matching = COMMANDS.filter((c) => words.length > 0 && words.every((word, i) => i >= c.words.length || c.words[i] === word) && words[0] === c.words[0]);
  if (matching.length === 0) return null;
  return `Usage: rampart ${words.slice(0, matching[0]?.words.length ?? 1).join(' ')} [options]\n\n${matching.map((c) => c.text).join('\n')}\n`;
}

function out(text: string): void {
  process.stdout.write(`${text}\n`);
}

function checkDeploy(): number {
  const { problems, deploy } = inspectEnvironment(process.env);
  const findings = [...problems, ...deploy.filter((f) => !problems.includes(f))];
  if (findings.length === 0) {
    out('No findings: this configuration passes every deploy check.');
    return 0;
  }
  for (const finding of findings) out(formatFinding(finding));
  const errors = findings.filter((f) => f.severity === 'error').length;
  out(`\n${errors} error(s), ${findings.length - errors} warning(s).`);
  return errors > 0 ? 1 : 0;
}

const DEV_GENERATED: ReadonlySet<string> = new Set(['RAMPART-E001', 'RAMPART-E005']);

/** `check` alone: would the current environment start? The problems a start would refuse on, and a pointer to `--deploy`. */
function checkStart(): number {
  const { problems, deploy } = inspectEnvironment(process.env);
  const production = process.env.NODE_ENV === 'production';
  // Production refuses to start on a deploy error as well; development and test only on a problem.
  // Outside production a start generates missing secrets (E001, E005) under the data directory.
  const generated = production ? [] : problems.filter((f) => DEV_GENERATED.has(f.id));
  const refusals = [...problems.filter((f) => !generated.includes(f)), ...(production ? deploy.filter((f) => f.severity === 'error' && !problems.includes(f)) : [])];
  const environment = process.env.NODE_ENV === undefined || process.env.NODE_ENV === '' ? 'development' : process.env.NODE_ENV;
  if (refusals.length > 0) {
    for (const finding of refusals) out(formatFinding(finding));
    out(`\nA ${environment} start would refuse: ${refusals.length} problem(s).`);
    return 1;
  }
  const rest = deploy.filter((f) => !refusals.includes(f) && !generated.includes(f)).length;
  out(`The configuration is valid: a ${environment} start would proceed.`);
  if (generated.length > 0) out('Development secrets are not set: the start uses (or creates) the data directory\'s secrets.json.');
  if (rest > 0) out(`${rest} deploy finding(s) for production: run \`rampart check --deploy\` to list them.`);
  return 0;
}

async function migrate(): Promise<number> {
  const { config } = loadConfig(process.env, { generateDevSecrets: true });
  // Loaded here, not at the top: the database drivers take most of the CLI's start-up time
  // and no other command needs them.
  const { migrateCliDatabase, openCliDatabase } = await import('./database.js');
  const database = await openCliDatabase(config);
  try {
    const { applied } = await migrateCliDatabase(database);
    out(applied.length === 0 ? 'The database is up to date.' : `Applied: ${applied.join(', ')}`);
    return 0;
  } finally {
    await database.close();
  }
}

function usageError(message: string): number {
  process.stderr.write(`${message}\n\n${USAGE}`);
  return 2;
}

export async function run(argv: readonly string[]): Promise<number> {
  // scan has options of its own; it parses them itself.
  if (argv[0] === 'scan') {
    const { scanCommand } = await import('./scan/command.js');
    return scanCommand(argv.slice(1), out, (text) => process.stderr.write(`${text}\n`));
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        deploy: { type: 'boolean', default: false },
        id: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
        email: { type: 'string' },
        name: { type: 'string' },
        admin: { type: 'boolean', default: false },
        'password-stdin': { type: 'boolean', default: false },
        host: { type: 'string', multiple: true },
        out: { type: 'string' },
        days: { type: 'string' },
        force: { type: 'boolean', default: false },
        now: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    // A mistyped option is a usage error (exit 2), like an unknown command.
    return usageError(err instanceof Error ? err.message : String(err));
  }
  const { positionals, values } = parsed;
  const [command, sub] = positionals;
  if (command === undefined && !values.help) return usageError('No command given.');
  if (values.help || command === 'help') {
    // `rampart users create --help` and `rampart help users create` print that command's help.
    const words = command === 'help' ? positionals.slice(1) : positionals;
    out(commandHelp(words) ?? USAGE);
    return 0;
  }
  // The tls options mean nothing elsewhere: a stray one is a usage error, not silently ignored.
  if (command !== 'tls' && (values.host !== undefined || values.out !== undefined || values.days !== undefined || values.force)) {
    return usageError('--host, --out, --days and --force belong to `tls init`.');
  }
  if (values.now && !(command === 'keys' && sub === 'retire-signing')) return usageError('--now belongs to `keys retire-signing`.');
  if (command === 'check' && sub === undefined) return values.deploy ? checkDeploy() : checkStart();
  if (command === 'migrate') return migrate();
  if (command === 'secrets' && sub === 'generate') {
    out(randomBytes(32).toString('base64url'));
    return 0;
  }
  if (command === 'keys' && sub === 'generate') {
    out(generateEncryptionKeyText(values.id ?? new Date().toISOString().slice(0, 10)));
    return 0;
  }
  if (command === 'keys' && sub === 'rotate-signing') {
    const { config } = loadConfig(process.env, { generateDevSecrets: true });
    const { rotateSigningKeyCommand } = await import('./signing-keys.js');
    return rotateSigningKeyCommand(config, out);
  }
  if (command === 'keys' && sub === 'retire-signing') {
    const kid = positionals[2];
    // Retiring at once is the only kind there is; --now says so, so nobody mistakes it for a rotation.
    if (kid === undefined || positionals.length !== 3 || !values.now) return usageError('keys retire-signing needs the key id and --now: rampart keys retire-signing KID --now');
    const { config } = loadConfig(process.env, { generateDevSecrets: true });
    const { retireSigningKeyCommand } = await import('./keys.js');
    return retireSigningKeyCommand(config, kid, out);
  }
  if (command === 'keys' && (sub === 'rotate-encryption' || sub === 'rebuild-index')) {
    const { config } = loadConfig(process.env, { generateDevSecrets: true });
    const { rotateEncryptionCommand, rebuildIndexCommand } = await import('./keys.js');
    return sub === 'rotate-encryption' ? rotateEncryptionCommand(config, out) : rebuildIndexCommand(config, out);
  }
  if (command === 'events' && sub === 'verify') {
    const { config } = loadConfig(process.env, { generateDevSecrets: true });
    const { verifyEventsCommand } = await import('./events.js');
    return verifyEventsCommand(config, out);
  }
  if (command === 'users' && sub === 'create') {
    const { config } = loadConfig(process.env, { generateDevSecrets: true });
    const { createUserCommand } = await import('./users.js');
    return createUserCommand(config, { email: values.email, name: values.name, admin: values.admin, passwordStdin: values['password-stdin'] }, out);
  }
  if (command === 'events' && sub === 'prune') {
    const { config } = loadConfig(process.env, { generateDevSecrets: true });
    const { pruneEventsCommand } = await import('./events.js');
    return pruneEventsCommand(config, out);
  }
  if (command === 'tls' && sub === 'init') {
    const { tlsInitCommand } = await import('./tls-command.js');
    return tlsInitCommand({ hosts: values.host ?? [], out: values.out, days: values.days, force: values.force }, out);
  }
  return usageError(`Unknown command: ${positionals.join(' ')}`);
}

try {
  process.exitCode = await run(process.argv.slice(2));
} catch (err) {
  if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
  else process.stderr.write(`rampart: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
