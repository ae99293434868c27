// @peculiar/x509 resolves its ASN.1 helpers through tsyringe, which needs the Reflect metadata
// API. Only this command loads it, so the polyfill never reaches the server process.
import 'reflect-metadata';
import { KeyObject, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as x509 from '@peculiar/x509';
import ipaddr from 'ipaddr.js';
import { isDnsName } from '../config/hosts.js';

export interface TlsInitOptions {
  readonly hosts: readonly string[];
  /** Directory the three files are written to. */
  readonly out: string;
  /** Replace existing files instead of refusing. */
  readonly force: boolean;
  /** Validity of the development certificate. */
  readonly days: number;
}

export interface TlsInitResult {
  readonly keyFile: string;
  readonly csrFile: string;
  readonly certFile: string;
  readonly fingerprint256: string;
  readonly validTo: string;
}

/** A refusal the operator can fix (exit 1 with the message, no stack). */
export class TlsInitError extends Error {}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
// Longer than any browser accepts for a publicly trusted certificate (398 days) is refused.
export const MAX_DAYS = 398;
// Issued slightly in the past, so a client whose clock runs a little behind still accepts it.
const BACKDATE_MS = 5 * 60_000;

type SanEntry = { type: 'dns' | 'ip'; value: string };

/** A subjectAltName entry for a host: an IP address, or a DNS name (lowercase, no wildcard). */
function sanEntry(host: string): SanEntry {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (ipaddr.isValid(bare)) return { type: 'ip', value: ipaddr.parse(bare).toString() };
  const name = host.toLowerCase();
  if (!isDnsName(name)) throw new TlsInitError(`--host ${JSON.stringify(host)} is not a DNS name or an IP address`);
  return { type: 'dns', value: name };
}

/** 126 random bits (CA/B Forum asks for at least 64), encoded as a positive DER integer with no leading zero. */
function serialNumber(): string {
  const serial = randomBytes(16);
  serial[0] = 0x40 | ((serial[0] ?? 0) & 0x3f);
  return serial.toString('hex');
}

/** Writes a new file only; `force` removes an existing one first (never following a symlink into it). */
function writeNew(path: string, text: string, mode: number, force: boolean): void {
  /* eslint-disable security/detect-non-literal-fs-filename -- the operator chose the directory */
  if (force && existsSync(path)) unlinkSync(path);
  // `wx` fails on anything already there, a planted symlink included.
  writeFileSync(path, text, { mode, flag: 'wx' });
  // The umask may have narrowed the mode at creation; set it exactly.
  chmodSync(path, mode);
  /* eslint-enable security/detect-non-literal-fs-filename */
}

/**
 * The three classic steps for a server certificate: a private key (ECDSA P-256, PKCS #8 PEM,
 * mode 0600), a certificate signing request naming the hosts in subjectAltName (to send to a
 * CA), and a short-lived self-signed certificate for development with the same names.
 */
export async function initTls(options: TlsInitOptions): Promise<TlsInitResult> {
  if (options.hosts.length === 0) throw new TlsInitError('--host is required (e.g. --host rampart.example.com)');
  if (!Number.isInteger(options.days) || options.days < 1 || options.days > MAX_DAYS) throw new TlsInitError(`--days must be a whole number from 1 to ${MAX_DAYS}`);
  const san = options.hosts.map(sanEntry);
  const first = san[0];
  if (first === undefined) throw new TlsInitError('--host is required');
  const out = resolve(options.out);
  const keyFile = join(out, 'key.pem');
  const csrFile = join(out, 'csr.pem');
  const certFile = join(out, 'cert.pem');
  // Checked for all three before writing any, so a refusal leaves nothing half-replaced.
  // eslint-disable-next-line security/detect-non-literal-fs-filename
  const existing = [keyFile, csrFile, certFile].filter((path) => existsSync(path));
  if (existing.length > 0 && !options.force) throw new TlsInitError(`refusing to overwrite ${existing.join(', ')} (use --force to replace)`);

  x509.cryptoProvider.set(globalThis.crypto);
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const subject = `CN=${first.value}`;
  const extensions = [new x509.SubjectAlternativeNameExtension(san)];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: subject, keys, signingAlgorithm: ALGORITHM, extensions });
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: subject,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + options.days * 86_400_000),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      ...extensions,
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const keyPem = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString();

  // eslint-disable-next-line security/detect-non-literal-fs-filename
  mkdirSync(out, { recursive: true, mode: 0o700 });
  writeNew(keyFile, keyPem, 0o600, options.force);
  writeNew(csrFile, csr.toString('pem') + '\n', 0o644, options.force);
  writeNew(certFile, certificate.toString('pem') + '\n', 0o644, options.force);
  const parsed = new X509Certificate(certificate.toString('pem'));
  return { keyFile, csrFile, certFile, fingerprint256: parsed.fingerprint256, validTo: parsed.validTo };
}
