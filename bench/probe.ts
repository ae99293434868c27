import { request } from 'node:http';
import { checkLoopbackOrigin, type LoadTarget } from './load.js';

export interface ProbeResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

const PROBE_TIMEOUT_MS = 5_000;

export interface ProbeOptions {
  /** The loopback source address to send from (e.g. `127.0.0.2`), so the server sees a client of its own. */
  readonly localAddress?: string;
}

/**
 * Sends a target's request once, on a connection of its own that closes afterwards, so a
 * scenario can check the answer before putting the target under load.
 */
export function probe(target: LoadTarget, options: ProbeOptions = {}): Promise<ProbeResponse> {
  const url = new URL(target.request.path, checkLoopbackOrigin(target.origin));
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: target.request.method ?? 'GET',
      headers: { ...target.request.headers },
      agent: false,
      timeout: PROBE_TIMEOUT_MS,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`probe of ${url.href} timed out`)));
    req.on('error', reject);
    req.end(target.request.body);
  });
}
