import assert from 'node:assert/strict';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { randomIp } from './build.js';
import { injectRetryingShed, json } from './client.js';
import { totpCodeFor, type TestUser } from './users.js';

export interface TokenPairBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  scope: string;
}

/** `POST /api/auth/token` as a script sends it: JSON, no cookie, no CSRF token. */
export function requestToken(app: FastifyInstance, body: Record<string, unknown>, ip = randomIp()): Promise<LightMyRequestResponse> {
  return injectRetryingShed(app, { method: 'POST', url: '/api/auth/token', payload: body, remoteAddress: ip });
}

export async function tokenPair(app: FastifyInstance, user: TestUser, scope?: string): Promise<TokenPairBody> {
  const ip = randomIp();
  const res = await requestToken(app, { email: user.email, password: user.password, ...(scope === undefined ? {} : { scope }) }, ip);
  if (user.totpSecret === undefined) {
    assert.equal(res.statusCode, 200, res.body);
    return json<TokenPairBody>(res);
  }
  // An account with a second factor: the challenge and a code finish the grant.
  assert.equal(res.statusCode, 401, res.body);
  const { challenge } = json<{ challenge: string }>(res);
  const second = await injectRetryingShed(app, { method: 'POST', url: '/api/auth/token/second-factor', payload: { challenge, code: await totpCodeFor(user.totpSecret, () => app.clock()) }, remoteAddress: ip });
  assert.equal(second.statusCode, 200, second.body);
  return json<TokenPairBody>(second);
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
