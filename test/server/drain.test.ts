/**
 * SIGTERM under load, against a real Rampart process: 50 keep-alive connections keep sending
 * while the process drains. A client must never see a reset: every answer during the drain
 * says `Connection: close`, and an idle connection is not cut while a request may be on its
 * way. Both targets run it the same way (the process uses its own embedded database).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { childEnvironment, type LoggingProcess, startServer, within } from '../fixtures/processes.js';

const temp = mkdtempSync(join(tmpdir(), 'rampart-drain-'));
const running: LoggingProcess[] = [];

after(async () => {
  await Promise.all(running.map((server) => server.stop()));
  rmSync(temp, { recursive: true, force: true });
});

const CONNECTIONS = 50;

interface Outcome { readonly status?: number; readonly connection?: string; readonly code?: string; readonly body?: string }

function get(url: string, agent: Agent): Promise<Outcome> {
  return within(new Promise<Outcome>((resolve) => {
    const req = httpRequest(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => { resolve({ status: res.statusCode, connection: res.headers.connection, body }); });
      res.on('error', (err: NodeJS.ErrnoException) => { resolve({ code: err.code ?? err.message }); });
    });
    // Node reports a connection closed under a sent request as ECONNRESET ("socket hang up").
    req.on('error', (err: NodeJS.ErrnoException) => { resolve({ code: err.code ?? err.message }); });
    req.end();
  }), 30_000, `GET ${url}`);
}

describe('a Rampart process draining on SIGTERM', () => {
  it(`resets none of ${CONNECTIONS} busy keep-alive connections: each gets an answer with Connection: close or a clean refusal`, async (t) => {
    const { server, origin } = await startServer(childEnvironment({
      RAMPART_PORT: '0',
      RAMPART_DATA_DIR: join(temp, 'data'),
      // Fifty clients share 127.0.0.1: the per-IP budget is raised so the test measures the drain, not the limiter.
      RAMPART_RATE_LIMIT_POINTS: '100000',
    }));
    running.push(server);
    const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    try {
      // Open the connections and keep them alive.
      const warm = await Promise.all(Array.from({ length: CONNECTIONS }, () => get(`${origin}/healthz`, agent)));
      assert.ok(warm.every((outcome) => outcome.status === 200));

      const outcomes: Outcome[] = [];
      let signalled = false;
      const client = async (index: number): Promise<Outcome> => {
        for (;;) {
          const outcome = await get(`${origin}/test/slow?ms=${(index * 7) % 60}`, agent);
          if (signalled) outcomes.push(outcome);
          // A client that was told to close (or refused) goes elsewhere, as behind a load balancer.
          if (outcome.code !== undefined || outcome.connection === 'close') return outcome;
          await delay(index % 5);
        }
      };
      const clients = Array.from({ length: CONNECTIONS }, (_, index) => client(index));
      await delay(300);
      signalled = true;
      assert.ok(server.child.kill('SIGTERM'));
      const last = await Promise.all(clients);
      const exit = await server.waitForExit();

      const resets = outcomes.filter((outcome) => outcome.code === 'ECONNRESET' || outcome.code === 'socket hang up' || outcome.code === 'EPIPE');
      const summary = JSON.stringify(outcomes.reduce<Record<string, number>>((counts, outcome) => {
        const key = outcome.code ?? `${String(outcome.status)} ${outcome.connection ?? ''}`;
        counts[key] = (counts[key] ?? 0) + 1;
        return counts;
      }, {}));
      t.diagnostic(`answers after SIGTERM: ${summary}`);
      assert.equal(resets.length, 0, `no connection was reset: ${summary}`);
      // Answers sent before the process saw the signal may still keep the connection alive; the
      // client then sends again, and that request is answered with Connection: close.
      for (const outcome of last) {
        if (outcome.code !== undefined) assert.equal(outcome.code, 'ECONNREFUSED', 'the only transport error is a refused new connection');
        else assert.equal(outcome.connection, 'close', `the drain closed the connection: ${JSON.stringify(outcome)}`);
      }
      for (const outcome of outcomes) {
        if (outcome.code === undefined && outcome.status !== 200) {
          assert.equal(outcome.status, 503);
          assert.match(outcome.body ?? '', /RAMPART_ERR_SHUTTING_DOWN/);
        }
      }
      assert.deepEqual(exit, { code: 0, signal: null });
    } finally {
      agent.destroy();
    }
  });
});
