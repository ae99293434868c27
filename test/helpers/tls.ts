import { connect, type ConnectionOptions, type PeerCertificate, TLSSocket } from 'node:tls';
import { request as httpsRequest, type Agent } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { within } from '../fixtures/processes.js';

export interface Handshake {
  readonly protocol: string | null;
  readonly cipher: string;
  readonly ephemeral: string | undefined;
  readonly authorized: boolean;
  readonly fingerprint256: string;
}

/** Completes one TLS handshake with the given client options and closes; rejects with the handshake error. */
export function handshake(port: number, options: ConnectionOptions): Promise<Handshake> {
  const done = new Promise<Handshake>((resolve, reject) => {
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, ...options }, () => {
      const peer: PeerCertificate = socket.getPeerCertificate();
      resolve({
        protocol: socket.getProtocol(),
        cipher: socket.getCipher().name,
        ephemeral: socket.getEphemeralKeyInfo() === null ? undefined : (socket.getEphemeralKeyInfo() as { type?: string }).type,
        authorized: socket.authorized,
        fingerprint256: peer.fingerprint256,
      });
      socket.end();
    });
    socket.once('error', reject);
  });
  return within(done, 15_000, 'a TLS handshake');
}

export interface TlsResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The local port of the connection that carried it, to tell connections apart. */
  readonly localPort: number;
  readonly fingerprint256: string;
}

/** One HTTPS GET to 127.0.0.1 that trusts `ca` and checks the certificate against `servername`. */
export function httpsGet(port: number, path: string, options: { ca: string | Buffer | readonly (string | Buffer)[]; servername: string; agent?: Agent; host?: string }): Promise<TlsResponse> {
  const response = new Promise<TlsResponse>((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1',
      port,
      path,
      ca: options.ca as string | Buffer | (string | Buffer)[],
      servername: options.servername,
      agent: options.agent ?? false,
      headers: { host: options.host ?? `127.0.0.1:${port}` },
    }, (res) => {
      const socket = res.socket;
      if (!(socket instanceof TLSSocket)) {
        reject(new Error('the response did not arrive over TLS'));
        return;
      }
      const localPort = socket.localPort ?? 0;
      const fingerprint256 = socket.getPeerCertificate().fingerprint256;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body, localPort, fingerprint256 }); });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  return within(response, 15_000, `GET https://127.0.0.1:${port}${path}`);
}
