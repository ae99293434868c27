import { z } from 'zod';
import type { ModuleExport } from '../../kernel/module.js';
import { tablesOf } from '../../platform/database.js';
import type { TokensTables } from './tables.js';

/**
 * The tokens module's part of a data export: metadata of the user's personal access tokens and
 * refresh-token families. Never a token or its hash.
 */
export const tokensExport: ModuleExport = {
  schema: z.object({
    personalTokens: z.array(z.object({ id: z.uuid(), name: z.string(), scopes: z.array(z.string()), createdAt: z.iso.datetime(), expiresAt: z.iso.datetime() })),
    refreshTokens: z.array(z.object({ scopes: z.array(z.string()), createdAt: z.iso.datetime(), expiresAt: z.iso.datetime(), used: z.boolean() })),
  }),
  async collect(app, userId) {
    const db = tablesOf<TokensTables>(app.database);
    const personal = await db.selectFrom('personal_access_tokens').select(['id', 'name', 'scope', 'created_at', 'expires_at']).where('user_id', '=', userId).orderBy('created_at').execute();
    const refresh = await db.selectFrom('refresh_tokens').select(['scope', 'created_at', 'expires_at', 'used_at']).where('user_id', '=', userId).orderBy('created_at').execute();
    return {
      personalTokens: personal.map((row) => ({ id: row.id, name: row.name, scopes: row.scope.split(' '), createdAt: row.created_at.toISOString(), expiresAt: row.expires_at.toISOString() })),
      refreshTokens: refresh.map((row) => ({ scopes: row.scope.split(' '), createdAt: row.created_at.toISOString(), expiresAt: row.expires_at.toISOString(), used: row.used_at !== null })),
    };
  },
};
