import { constants, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { FastifyBaseLogger } from 'fastify';

/** The files a certificate and its key are read from (PEM). */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/** A certificate chain and its private key, read and checked against each other. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The leaf certificate, for logging its fingerprint and expiry. */
  readonly leaf: X509Certificate;
}

/**
 * TLS 1.2 suites: ECDHE key exchange only (every session has its own key, so a stolen
 * certificate key cannot decrypt recorded traffic) and AEAD ciphers only (no CBC, whose
 * padding-oracle history is long). Mozilla's "intermediate" list without the DHE suites:
 * finite-field DHE is slow and clients that need it are long gone. TLS 1.3's three suites are
 * all forward secret and AEAD; they are listed so the whole set is stated here.
 */
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * Key-exchange groups, best first. The hybrid post-quantum group is what current browsers
 * offer first; it is used where the OpenSSL under Node supports it (3.5 and later) and left
 * out elsewhere. Naming the groups keeps OpenSSL's build-dependent `auto` list (which may
 * include rarely used curves) out of the handshake.
 */
const KEY_EXCHANGE_GROUPS = ['X25519MLKEM768', 'X25519', 'prime256v1', 'secp384r1'];

function supportedGroups(): string {
  return KEY_EXCHANGE_GROUPS.filter((group) => {
    try {
      createSecureContext({ ecdhCurve: group });
      return true;
    } catch {
      return false;
    }
  }).join(':');
}

/**
 * The server's TLS settings, all explicit:
 * - TLS 1.2 at least: 1.0 and 1.1 are deprecated (RFC 8996) and lack AEAD suites.
 * - `honorCipherOrder: false`: every suite offered is strong, so the client's order wins and a
 *   phone without AES hardware can pick ChaCha20 (Mozilla's current advice; server order
 *   mattered only while weak suites had to stay in the list).
 * - No TLS 1.2 session tickets: Node encrypts them under one key for the life of the process,
 *   so whoever obtained that key could decrypt every recorded session that resumed with one,
 *   which defeats forward secrecy.
 * - No renegotiation: a client could use it to make the server repeat expensive handshakes.
 */
export function tlsServerOptions(): SecureContextOptions & { minVersion: 'TLSv1.2' } {
  return {
    minVersion: 'TLSv1.2',
    ciphers: TLS_CIPHERS,
    honorCipherOrder: false,
    ecdhCurve: supportedGroups(),
    secureOptions: constants.SSL_OP_NO_TICKET | constants.SSL_OP_NO_RENEGOTIATION,
  };
}

/**
 * Reads the certificate chain and key and checks that they belong together, so a mismatched
 * pair fails here with a clear message instead of inside the TLS stack.
 */
export function readTlsMaterial(files: TlsFiles): TlsMaterial {
  // The operator names these files in configuration; reading them is the point.
  /* eslint-disable security/detect-non-literal-fs-filename */
  const cert = readFileSync(files.certFile);
  const key = readFileSync(files.keyFile);
  /* eslint-enable security/detect-non-literal-fs-filename */
  const leaf = new X509Certificate(cert);
  if (!leaf.checkPrivateKey(createPrivateKey(key))) throw new Error('the private key does not belong to the certificate');
  // Building a context proves OpenSSL accepts the pair with these settings before anything uses it.
  createSecureContext({ ...tlsServerOptions(), cert, key });
  return { cert, key, leaf };
}

/** Where a certificate can be swapped in: Node's TLS server (and https.Server) has this method. */
export interface SecureContextHolder {
  setSecureContext(options: SecureContextOptions): void;
}

/**
 * Reads the certificate files again and swaps them into the running server: new handshakes
 * use the new certificate, connections already open keep theirs and are never dropped. A
 * file that cannot be read, a key that does not match or a certificate OpenSSL refuses is
 * logged and the current certificate stays. Returns whether the swap happened.
 */
export function reloadCertificate(server: SecureContextHolder, files: TlsFiles, logger: FastifyBaseLogger): boolean {
  let material: TlsMaterial;
  try {
    material = readTlsMaterial(files);
  } catch (err) {
    const reason = err instanceof Error && 'code' in err ? String(err.code) : err instanceof Error ? err.message : 'unknown error';
    logger.error({ reason, certFile: files.certFile }, 'TLS certificate not reloaded: keeping the current one');
    return false;
  }
  server.setSecureContext({ ...tlsServerOptions(), cert: material.cert, key: material.key });
  const { leaf } = material;
  const expired = new Date(leaf.validTo).getTime() <= Date.now();
  logger[expired ? 'warn' : 'info']({ fingerprint256: leaf.fingerprint256, subjectAltName: leaf.subjectAltName ?? null, validTo: leaf.validTo }, expired ? 'TLS certificate reloaded, but it has expired' : 'TLS certificate reloaded');
  return true;
}
