import { z } from 'zod';
import { emailSchema, passwordSchema } from '../accounts/schemas.js';

// OAuth's space-separated scope string; each entry is checked against the vocabulary by the service.
const scopeString = z.string().min(1).max(256).regex(/^[a-z: ]+$/, 'space-separated scopes');

export const passwordGrantBody = z.strictObject({ email: emailSchema, password: passwordSchema, scope: scopeString.optional() });
// Refresh tokens are 32 random bytes in base64url.
export const refreshBody = z.strictObject({ refresh_token: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'not a refresh token') });
// Any string up to a JWT's bound: an unknown token is answered 200 like a known one.
export const revokeBody = z.strictObject({ token: z.string().min(1).max(2048) });

export const tokenResponse = z.object({
  access_token: z.string(),
  token_type: z.literal('Bearer'),
  expires_in: z.number().int(),
  refresh_token: z.string(),
  scope: z.string(),
});

/** A personal token's request; `scopes` is the modules' vocabulary (`app.scopes.all`). */
export function createPersonalTokenBody(scopes: readonly string[]) {
  return z.strictObject({
    name: z.string().max(400).transform((name) => name.trim().normalize('NFC')).pipe(z.string().min(1).max(100)),
    scopes: z.array(z.enum(scopes as [string, ...string[]])).min(1).max(scopes.length),
    expiresInDays: z.number().int().min(1).max(365),
  });
}

export const personalTokenSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  scopes: z.array(z.string()),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
});
export const createdPersonalTokenSchema = personalTokenSchema.extend({ token: z.string() });
export const personalTokenParams = z.strictObject({ id: z.uuid() });

export const jwksSchema = z.object({
  keys: z.array(z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string(), kid: z.string(), alg: z.literal('EdDSA'), use: z.literal('sig') })),
});
