import type { FastifyBaseLogger } from 'fastify';

/** Work that runs after the answer is written (mail, lookups whose timing would reveal accounts). */
export interface BackgroundWork {
  run(work: () => Promise<void>): void;
  /** Resolves when everything started so far has finished (the app awaits it before closing). */
  flush(): Promise<void>;
}

/**
 * Mail goes out in the background: an answer must not wait on SMTP, and must take the same
 * time whether or not a message was sent (that difference would reveal accounts). The work
 * starts on the next turn of the event loop, once the answer has been written, so its lookups
 * (in-process, on the embedded database) cannot delay that answer either. A failure is logged.
 */
export function createBackgroundWork(logger: FastifyBaseLogger): BackgroundWork {
  const pending = new Set<Promise<void>>();
  return {
    run(work) {
      const running = new Promise<void>((resolve) => {
        setImmediate(resolve);
      }).then(work).catch((err: unknown) => {
        logger.error({ err }, 'background account work failed');
      });
      pending.add(running);
      void running.finally(() => pending.delete(running));
    },
    async flush() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}
