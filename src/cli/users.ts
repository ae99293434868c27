import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Config } from '../config/config.js';
import { createAccountsRepository } from '../modules/accounts/repository.js';
import type { AccountsTables } from '../modules/accounts/tables.js';
import { tablesOf } from '../platform/database.js';
import { emailSchema, nameSchema } from '../modules/accounts/schemas.js';
import { createUser } from '../modules/accounts/users.js';
import { cliKeyring } from './keys.js';
import { migrateCliDatabase, openCliDatabase } from './database.js';
import { createPasswordHasher } from '../security/password-hashing.js';
import { createPasswordPolicy } from '../security/password-policy.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Asks on the terminal with echo off, so the password never shows on screen or in scrollback. */
async function promptHidden(question: string): Promise<string> {
  process.stderr.write(question);
  const muted = new Writable({ write: (_chunk, _encoding, callback) => { callback(); } });
  const rl = createInterface({ input: process.stdin, output: muted, terminal: true });
  try {
    return await new Promise<string>((resolve) => { rl.question('', resolve); });
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

export interface CreateUserArgs {
  readonly email?: string;
  readonly name?: string;
  readonly admin: boolean;
  readonly passwordStdin: boolean;
}

/**
 * `rampart users create`: creates a verified user (an administrator with --admin). The
 * password is prompted for with echo off, or read from stdin with --password-stdin; it is
 * never taken from the command line, where it would land in shell history and `ps`.
 */
export async function createUserCommand(config: Config, args: CreateUserArgs, out: (text: string) => void): Promise<number> {
  const email = emailSchema.safeParse(args.email ?? '');
  const name = nameSchema.safeParse(args.name ?? '');
  if (!email.success || !name.success) {
    process.stderr.write('users create needs --email with a valid address and --name (1-100 characters).\n');
    return 2;
  }
  if (!args.passwordStdin && !process.stdin.isTTY) {
    process.stderr.write('No terminal to ask for the password on: pipe it in with --password-stdin.\n');
    return 2;
  }
  let password = args.passwordStdin ? await readStdin() : await promptHidden('Password: ');
  if (!args.passwordStdin && (await promptHidden('Repeat the password: ')) !== password) {
    process.stderr.write('The passwords differ.\n');
    return 1;
  }
  const database = await openCliDatabase(config);
  try {
    await migrateCliDatabase(database);
    const result = await createUser({
      repository: createAccountsRepository(tablesOf<AccountsTables>(database)),
      keyring: cliKeyring(config),
      passwords: await createPasswordHasher({ parameters: config.passwords.argon2 }),
      policy: createPasswordPolicy({ minLength: config.passwords.minLength }),
    }, { name: name.data, email: email.data, password, role: args.admin ? 'admin' : 'author', verified: true });
    password = '';
    if (result.ok) {
      out(`Created ${args.admin ? 'administrator' : 'user'} ${result.user.id} (${email.data}).`);
      return 0;
    }
    process.stderr.write(result.reason === 'email_taken' ? 'That email already has an account.\n' : `Password refused: ${result.message}\n`);
    return 1;
  } finally {
    await database.close();
  }
}
