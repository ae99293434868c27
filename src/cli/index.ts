import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { inspectEnvironment, loadConfig } from '../config/config.js';
import { generateEncryptionKeyText } from '../config/encryption-keys.js';
import { ConfigError, formatFinding } from '../config/findings.js';

const USAGE = `Usage: rampart <command> [options]

Commands:
  check --deploy          Print every configuration finding for the current environment
                          without starting; exit 1 if any is an error.
  migrate                 Apply pending database migrations (as DATABASE_MIGRATION_URL when set).
  secrets generate        Print a new random RAMPART_SECRET_KEY value.
  keys generate [--id ID] Print a new RAMPART_ENCRYPTION_KEYS entry (default id: the date).
  keys rotate-signing     Add a new access-token signing key; the previous one verifies until
                          its tokens have expired, then is retired.
  users create --email E --name N [--admin] [--password-stdin]
                          Create a verified user (an administrator with --admin). The password
                          is prompted for with echo off, or read from stdin.
  tls init --host H [--host H2 …] [--out DIR] [--days N] [--force]
                          Write a private key (ECDSA P-256, mode 0600), a certificate signing
                          request for the hosts, and a self-signed development certificate
                          (default 90 days) to DIR (default ./data/tls). Existing files are
                          kept unless --force.
  help                    Show this text.
`;

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

async function migrate(): Promise<number> {
  const { config } = loadConfig(process.env, { generateDevSecrets: true });
  // Loaded here, not at the top: the database drivers take most of the CLI's start-up time
  // and no other command needs them.
  const { openCliDatabase } = await import('./database.js');
  const database = await openCliDatabase(config);
  try {
    const { applied } = await database.migrate();
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
    out(USAGE);
    return 0;
  }
  // The tls options mean nothing elsewhere: a stray one is a usage error, not silently ignored.
  if (command !== 'tls' && (values.host !== undefined || values.out !== undefined || values.days !== undefined || values.force)) {
    return usageError('--host, --out, --days and --force belong to `tls init`.');
  }
  if (command === 'check' && values.deploy) return checkDeploy();
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
  if (command === 'users' && sub === 'create') {
    const { config } = loadConfig(process.env, { generateDevSecrets: true });
    const { createUserCommand } = await import('./users.js');
    return createUserCommand(config, { email: values.email, name: values.name, admin: values.admin, passwordStdin: values['password-stdin'] }, out);
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
