import type { FastifyReply } from 'fastify';
import type { UserView } from '../accounts/schemas.js';
import type { AccountsService } from '../accounts/service.js';
import type { PendingSignIn } from './service.js';

/**
 * Finishes a browser sign-in whose second factor was proved ({@link MfaService.completeSecondFactor}):
 * starts the session unless the credentials changed since the password step (a reset voids the
 * pending sign-in), and answers the user; null when it was voided. The API and the page share it.
 */
export async function startSecondFactorSession(reply: FastifyReply, accounts: AccountsService, pending: PendingSignIn): Promise<UserView | null> {
  const stillValid = () => accounts.credentialsStillMatch(pending.userId, pending.fingerprint);
  const user = (await stillValid()) ? await accounts.findView(pending.userId) : null;
  if (user === null || !(await reply.startSession(pending.userId, { stillValid }))) return null;
  return user;
}
