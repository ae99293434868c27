import { startBare, type RunningServer } from './servers/bare.js';
import type { ServerOptions } from './servers/protocol.js';
import { startRampart } from './servers/rampart-server.js';
import { startStack } from './servers/stack.js';

/**
 * One server under test, in a process of its own (the bench starts it pinned with
 * `taskset`). Options come as JSON in `BENCH_SERVER_OPTIONS`; when listening and set up it
 * prints `READY <json>` (see servers/protocol.ts); it closes, deleting its Redis keys, when
 * its stdin ends or on SIGTERM.
 */
async function main(): Promise<void> {
  const options = JSON.parse(process.env.BENCH_SERVER_OPTIONS ?? '{}') as ServerOptions;
  const start = { bare: startBare, stack: startStack, rampart: startRampart, nometrics: startRampart }[options.kind];
  if ((start as unknown) === undefined) throw new Error(`unknown server kind ${options.kind as string}`);
  const server: RunningServer = await start(options);
  let closing: Promise<void> | undefined;
  const close = (): void => {
    closing ??= server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`close failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      },
    );
  };
  process.stdin.on('end', close);
  process.stdin.resume();
  process.on('SIGTERM', close);
  process.stdout.write(`READY ${JSON.stringify(server.ready)}\n`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
