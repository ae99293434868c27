import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';

/** How many times a shed request is sent again, each after the instance recovers. */
export const SHED_RETRIES = 3;
const RECOVERY_LIMIT_MS = 15_000;

/** The 503 the load-shedding guard answers when the instance is under pressure. */
export function wasShed(response: LightMyRequestResponse): boolean {
  return response.statusCode === 503 && response.body.includes('RAMPART_ERR_OVERLOADED');
}

/** Resolves once the instance no longer sheds load (or after 15 s, when the retry shows the 503 again). */
export async function recovered(app: FastifyInstance): Promise<void> {
  const deadline = Date.now() + RECOVERY_LIMIT_MS;
  do await new Promise((resolve) => setTimeout(resolve, 100));
  while (app.isUnderPressure() && Date.now() < deadline);
}

type Inject = (options: InjectOptions | string) => Promise<LightMyRequestResponse>;

/**
 * Makes `app.inject(options)` behave like a client that honours 503: a request the instance shed
 * because the (shared, noisy) machine stalled its event loop is sent again once it recovers, up
 * to {@link SHED_RETRIES} times. The guard itself stays on and sheds as always; the
 * load-shedding tests build their instances with their own thresholds and see every 503. The
 * chained form (`app.inject()`) and the callback form are left as they are.
 */
export function retryShedRequests(app: FastifyInstance): void {
  const original = app.inject.bind(app) as unknown as Inject;
  const retrying = async (options: InjectOptions | string): Promise<LightMyRequestResponse> => {
    let response = await original(options);
    for (let attempt = 0; attempt < SHED_RETRIES && wasShed(response); attempt += 1) {
      await recovered(app);
      response = await original(options);
    }
    return response;
  };
  const inject = (...args: unknown[]): unknown => {
    if (args.length !== 1 || args[0] === undefined) return (original as (...a: unknown[]) => unknown)(...args);
    return retrying(args[0] as InjectOptions | string);
  };
  Object.defineProperty(app, 'inject', { value: inject, configurable: true, writable: true });
}
