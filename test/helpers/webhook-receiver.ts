import { createServer, type IncomingMessage, type Server } from 'node:http';
import { verifyAlertSignature, SIGNATURE_HEADER } from '../../src/modules/alerts/index.js';

/** One POST the receiver got: the raw body, the signature header, and what the documented check said. */
export interface ReceivedDelivery {
  readonly body: string;
  readonly signature: string | undefined;
  readonly verdict: ReturnType<typeof verifyAlertSignature>;
}

/**
 * A real HTTP server that receives alert webhooks as an operator's would: it verifies each
 * delivery with `verifyAlertSignature` (the README's snippet) and answers 401 to a forged or
 * replayed one. `respond` lets a test make it fail, and `clockOffsetSeconds` moves its clock.
 */
export interface WebhookReceiver {
  readonly url: string;
  readonly accepted: ReceivedDelivery[];
  readonly refused: ReceivedDelivery[];
  /** Every request, accepted or not, including those answered with a failure status. */
  readonly all: ReceivedDelivery[];
  respond: (delivery: ReceivedDelivery) => { status: number; headers?: Record<string, string> };
  clockOffsetSeconds: number;
  /** Sends a request to the receiver as an attacker would (a forged or replayed delivery). */
  post(body: string, signature: string | undefined): Promise<number>;
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startWebhookReceiver(secret: string): Promise<WebhookReceiver> {
  const receiver: WebhookReceiver = {
    url: '',
    accepted: [],
    refused: [],
    all: [],
    respond: () => ({ status: 204 }),
    clockOffsetSeconds: 0,
    async post(body, signature) {
      const response = await fetch(this.url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...(signature === undefined ? {} : { [SIGNATURE_HEADER]: signature }) } });
      await response.body?.cancel();
      return response.status;
    },
    close: () => new Promise<void>((resolve) => { server.close(() => { resolve(); }); server.closeAllConnections(); }),
  };
  const server: Server = createServer((request, response) => {
    void readBody(request).then((body) => {
      const header = request.headers[SIGNATURE_HEADER];
      const signature = Array.isArray(header) ? header[0] : header;
      const verdict = verifyAlertSignature({ secret, header: signature, body, nowSeconds: Math.floor(Date.now() / 1000) + receiver.clockOffsetSeconds });
      const delivery = { body, signature, verdict };
      receiver.all.push(delivery);
      if (!verdict.ok) {
        receiver.refused.push(delivery);
        response.writeHead(401).end();
        return;
      }
      const answer = receiver.respond(delivery);
      if (answer.status >= 200 && answer.status < 300) receiver.accepted.push(delivery);
      response.writeHead(answer.status, answer.headers).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  (receiver as { url: string }).url = `http://127.0.0.1:${address.port}/hooks/rampart`;
  return receiver;
}
