import { initTls, TlsInitError } from './tls.js';

/** `rampart tls init`: the files, their fingerprint, and how to use them. Exit 1 on a refusal. */
export async function tlsInitCommand(args: { hosts: readonly string[]; out: string | undefined; days: string | undefined; force: boolean }, out: (text: string) => void): Promise<number> {
  const days = args.days === undefined ? 90 : /^\d{1,4}$/.test(args.days) ? Number(args.days) : Number.NaN;
  try {
    const result = await initTls({ hosts: args.hosts, out: args.out ?? 'data/tls', days, force: args.force });
    out(`Private key (ECDSA P-256, mode 0600): ${result.keyFile}`);
    out(`Certificate signing request:           ${result.csrFile}`);
    out(`Self-signed certificate (development): ${result.certFile}`);
    out(`  SHA-256 fingerprint ${result.fingerprint256}, valid until ${result.validTo}`);
    out('');
    out('Serve HTTPS with:');
    out(`  RAMPART_TLS_CERT_FILE=${result.certFile} RAMPART_TLS_KEY_FILE=${result.keyFile}`);
    out('Browsers do not trust a self-signed certificate: for production send the CSR to a CA (or use');
    out('an ACME client), put the issued chain in the certificate file, and send Rampart SIGHUP to load it.');
    return 0;
  } catch (err) {
    if (!(err instanceof TlsInitError)) throw err;
    process.stderr.write(`rampart tls init: ${err.message}\n`);
    return 1;
  }
}
