import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { randomIp } from './build.js';
import { injectRetryingShed, json } from './client.js';

export interface TestUser {
  readonly id: string;
  readonly email: string;
  readonly password: string;
}

export interface TokenPairBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  scope: string;
}

/** A verified user made through the accounts service (as `rampart users create` does), skipping the mail round trip. */
export async function createVerifiedUser(app: FastifyInstance, role: 'author' | 'moderator' | 'admin' = 'author'): Promise<TestUser> {
  const email = `api.${randomBytes(5).toString('hex')}@example.com`;
  const password = `harbor lantern ${randomBytes(6).toString('hex')} willow`;
  const created = await app.accounts.createUser({ name: 'Api User', email, password, role, verified: true });
  assert.ok(created.ok, 'the test user was created');
  return { id: created.user.id, email, password };
}

/** `POST /api/auth/token` as a script sends it: JSON, no cookie, no CSRF token. */
export function requestToken(app: FastifyInstance, body: Record<string, unknown>, ip = randomIp()): Promise<LightMyRequestResponse> {
  return injectRetryingShed(app, { method: 'POST', url: '/api/auth/token', payload: body, remoteAddress: ip });
}

export async function tokenPair(app: FastifyInstance, user: TestUser, scope?: string): Promise<TokenPairBody> {
  const res = await requestToken(app, { email: user.email, password: user.password, ...(scope === undefined ? {} : { scope }) });
  assert.equal(res.statusCode, 200, res.body);
  return json<TokenPairBody>(res);
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** A bearer request from a client with no cookie jar. */
export function withBearer(app: FastifyInstance, token: string, request: { method?: 'GET' | 'POST' | 'DELETE'; url: string; payload?: Record<string, unknown> }, ip = randomIp()): Promise<LightMyRequestResponse> {
  return injectRetryingShed(app, { method: request.method ?? 'GET', url: request.url, headers: bearer(token), remoteAddress: ip, ...(request.payload === undefined ? {} : { payload: request.payload }) });
}

export function refresh(app: FastifyInstance, refreshToken: string, ip = randomIp()): Promise<LightMyRequestResponse> {
  return injectRetryingShed(app, { method: 'POST', url: '/api/auth/token/refresh', payload: { refresh_token: refreshToken }, remoteAddress: ip });
}
