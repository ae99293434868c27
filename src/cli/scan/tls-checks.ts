import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { checkServerIdentity, connect, type DetailedPeerCertificate, rootCertificates, type SecureVersion } from 'node:tls';
import type { Findings } from './findings.js';

/** What one pinned handshake showed. */
export type HandshakeResult =
  | { readonly kind: 'accepted'; readonly protocol: string; readonly cipher: string; readonly authorizationError: string | null; readonly certificate: DetailedPeerCertificate }
  /** The server said no (an alert, a reset, or it answered with another version). */
  | { readonly kind: 'refused'; readonly error: string }
  /** This client could not offer it at all, so nothing is known. */
  | { readonly kind: 'untestable'; readonly error: string }
  | { readonly kind: 'unreachable'; readonly error: string };

export interface HandshakeOptions {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  /** Extra trust anchors (--ca), added to Node's bundled roots. */
  readonly ca: readonly string[];
}

// Errors OpenSSL raises on this side before anything is sent.
const LOCAL_ERRORS = new Set(['ERR_SSL_NO_CIPHER_MATCH', 'ERR_SSL_NO_PROTOCOLS_AVAILABLE', 'ERR_TLS_INVALID_PROTOCOL_VERSION', 'ERR_SSL_NO_CIPHERS_AVAILABLE']);
const NETWORK_ERRORS = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'TIMEOUT']);

/** One handshake pinned to a version range and cipher list, closed as soon as it completes. */
export function handshake(options: HandshakeOptions, pin: { minVersion: SecureVersion; maxVersion: SecureVersion; ciphers?: string }): Promise<HandshakeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: HandshakeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.destroy();
      resolve(result);
    };
    const fail = (err: NodeJS.ErrnoException) => {
      const code = err.code ?? err.message;
      finish({ kind: LOCAL_ERRORS.has(code) ? 'untestable' : NETWORK_ERRORS.has(code) ? 'unreachable' : 'refused', error: code });
    };
    const timer = setTimeout(() => { fail(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })); }, options.timeoutMs);
    let socket: ReturnType<typeof connect> | undefined;
    try {
      socket = connect({
        host: options.host,
        port: options.port,
        servername: isIP(options.host) === 0 ? options.host : undefined,
        // The point is to see what the server offers, so this side accepts anything and
        // judges the certificate afterwards; nothing but the handshake is ever sent.
        rejectUnauthorized: false,
        ca: [...rootCertificates, ...options.ca],
        minVersion: pin.minVersion,
        maxVersion: pin.maxVersion,
        // OpenSSL 3 refuses TLS 1.0/1.1 and weak suites at its default security level 1+.
        ciphers: `${pin.ciphers ?? 'DEFAULT'}@SECLEVEL=0`,
      }, () => {
        const tlsSocket = socket;
        if (tlsSocket === undefined) return;
        const error = tlsSocket.authorizationError as unknown;
        finish({
          kind: 'accepted',
          protocol: tlsSocket.getProtocol() ?? 'unknown',
          cipher: tlsSocket.getCipher().name,
          authorizationError: error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.message) : typeof error === 'string' ? error : null,
          certificate: tlsSocket.getPeerCertificate(true),
        });
      });
      socket.once('error', fail);
    } catch (err) {
      fail(err as NodeJS.ErrnoException);
    }
  });
}

export const VERSIONS: readonly { readonly version: SecureVersion; readonly label: string }[] = [
  { version: 'TLSv1', label: 'TLS 1.0' },
  { version: 'TLSv1.1', label: 'TLS 1.1' },
  { version: 'TLSv1.2', label: 'TLS 1.2' },
  { version: 'TLSv1.3', label: 'TLS 1.3' },
];

/** Weak suite families, each tried alone (OpenSSL cipher-string names), TLS 1.2 and below. */
export const WEAK_CIPHERS = [
  { ciphers: 'eNULL', label: 'NULL (no encryption)', id: 'RAMPART-ST07' },
  { ciphers: 'aNULL', label: 'anonymous (no authentication)', id: 'RAMPART-ST07' },
  { ciphers: 'EXPORT', label: 'export-grade', id: 'RAMPART-ST07' },
  { ciphers: 'RC4', label: 'RC4', id: 'RAMPART-ST07' },
  { ciphers: 'DES:3DES', label: 'DES / 3DES', id: 'RAMPART-ST08' },
  { ciphers: 'kRSA', label: 'static RSA key exchange', id: 'RAMPART-ST09' },
] as const;

const DAY_MS = 86_400_000;
const SELF_SIGNED = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT']);
const DATE_ERRORS = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/** Certificate rules for the certificate one accepted handshake showed. */
export function checkCertificate(findings: Findings, accepted: Extract<HandshakeResult, { kind: 'accepted' }>, host: string, now: Date, where: string): void {
  const cert = accepted.certificate;
  const commonName = [cert.subject.CN ?? []].flat().join(', ');
  const issuerName = [cert.issuer.CN ?? []].flat().join(', ');
  const subject = `certificate ${commonName || (cert.subjectaltname ?? '')}`.trim();
  const error = accepted.authorizationError;
  if (error !== null && SELF_SIGNED.has(error)) findings.add('RAMPART-ST10', subject, `${error}: issuer ${JSON.stringify(cert.issuer)} = subject`, where);
  else if (error !== null && !DATE_ERRORS.has(error)) findings.add('RAMPART-ST11', subject, `${error} (issuer ${issuerName || JSON.stringify(cert.issuer)})`, where);
  const notAfter = Date.parse(cert.valid_to);
  const notBefore = Date.parse(cert.valid_from);
  if (notAfter <= now.getTime() || notBefore > now.getTime()) findings.add('RAMPART-ST12', subject, `valid from ${cert.valid_from} to ${cert.valid_to}; the scan ran at ${now.toISOString()}`, where);
  else if (notAfter - now.getTime() < 30 * DAY_MS) findings.add('RAMPART-ST13', subject, `valid to ${cert.valid_to} (${Math.floor((notAfter - now.getTime()) / DAY_MS)} days left)`, where);
  const mismatch = checkServerIdentity(host, cert);
  if (mismatch !== undefined) findings.add('RAMPART-ST14', subject, `${host} is not in ${cert.subjectaltname ?? `CN=${commonName}`}`, where);
  const rsaBits = rsaModulusBits(cert);
  if (rsaBits !== undefined && rsaBits < 2048) findings.add('RAMPART-ST15', subject, `RSA ${rsaBits} bits`, where);
}

/**
 * The RSA modulus length of the certificate's public key, read from the key itself: the peer
 * certificate object's fields differ across Node versions (Node 26 lists `modulus` on an EC key).
 */
function rsaModulusBits(cert: DetailedPeerCertificate): number | undefined {
  const key = new X509Certificate(cert.raw).publicKey;
  return key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss' ? key.asymmetricKeyDetails?.modulusLength : undefined;
}
