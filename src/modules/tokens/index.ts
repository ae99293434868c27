import { defineModule } from '../../kernel/module.js';
import { tablesOf } from '../../platform/database.js';
import { tokensExport } from './export.js';
import * as apiTokensTables from './migrations/0001-api-tokens.js';
import { createTokensRepository } from './repository.js';
import { tokensRoutes } from './routes.js';
import { createTokensService, type TokensService } from './service.js';
import type { TokensTables } from './tables.js';
import { TOKEN_ERRORS } from './errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    tokens: TokensService;
  }
}

/**
 * API tokens: the OAuth-style token endpoints (password grant, refresh with reuse detection,
 * revocation), JWKS, and personal access tokens. It provides the kernel's bearer resolver and
 * ends a user's tokens whenever their sessions end for security.
 */
export const tokensModule = defineModule({
  name: 'tokens',
  errors: TOKEN_ERRORS,
  dependencies: ['accounts'],
  migrations: [{ name: '0001-api-tokens', migration: apiTokensTables, replaces: '0003-api-tokens' }],
  exportData: tokensExport,
  async plugin(app) {
    const tokens = createTokensService({
      repository: createTokensRepository(tablesOf<TokensTables>(app.database)),
      accessTokens: app.accessTokens,
      scopes: app.scopes,
      findUser: async (userId) => (await app.userStates.get(userId)).principal,
      refreshTtlMs: app.config.tokens.refreshTtlMs,
      now: app.clock,
    });
    app.decorate('tokens', tokens);
    app.identity.useBearer((token) => tokens.resolveBearer(token));
    app.identity.onRevokeCredentials((userId, options) => tokens.revokeAllForUser(userId, options));
    await app.register(tokensRoutes, { tokens });
  },
});
