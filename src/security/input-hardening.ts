import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { RAMPART_ERR_EMPTY_BODY, RAMPART_ERR_FORBIDDEN_KEY, RAMPART_ERR_MALFORMED_JSON, RAMPART_ERR_NUL_CHARACTER } from './errors.js';

/**
 * Keys that are rejected anywhere in a body or query, before any handler runs:
 * `__proto__`, `constructor` and `prototype` reach prototype pollution in code that merges
 * objects, and `$`-prefixed keys are MongoDB-style operators (`{"$ne": null}`), an
 * injection vector wherever input meets a query builder or a matcher.
 */
export function isForbiddenKey(key: string): boolean {
  return key === '__proto__' || key === 'constructor' || key === 'prototype' || key.startsWith('$');
}

/** The first forbidden key anywhere in the value, found without recursion so depth cannot exhaust the stack. */
export function findForbiddenKey(value: unknown): string | null {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (current === null || typeof current !== 'object') continue;
    if (Array.isArray(current)) {
      for (const item of current) stack.push(item);
      continue;
    }
    for (const key of Object.keys(current)) {
      if (isForbiddenKey(key)) return key;
      stack.push((current as Record<string, unknown>)[key]);
    }
  }
  return null;
}

/**
 * Whether a string anywhere in the value (a key or a value) holds U+0000. PostgreSQL text can
 * never store it, so it would fail deep in a query as a 500; no legitimate input needs it.
 */
export function containsNul(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (typeof current === 'string') {
      if (current.includes('\u0000')) return true;
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    if (Array.isArray(current)) {
      for (const item of current) stack.push(item);
      continue;
    }
    for (const key of Object.keys(current)) {
      if (key.includes('\u0000')) return true;
      stack.push((current as Record<string, unknown>)[key]);
    }
  }
  return false;
}

function recordForbidden(request: FastifyRequest, location: string): void {
  request.server.securityEvents.recordFor(request, 'input_validation_fail', { details: { reason: 'forbidden_key', location } });
}

/**
 * Replaces Fastify's body parsers: JSON is the only accepted body type (text/plain, forms
 * and multipart get 415, so a cross-site form cannot reach a JSON route), and a body or
 * query with a forbidden key is refused with 400 and an `input_validation_fail` event.
 */
export const inputHardeningPlugin = fp(
  (app: FastifyInstance, _opts: object, done: (err?: Error) => void) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, parsed) => {
      const text = body as string;
      if (text.length === 0) {
        parsed(new RAMPART_ERR_EMPTY_BODY(), undefined);
        return;
      }
      let value: unknown;
      try {
        // Plain JSON.parse defines `__proto__` as an own property (it never sets the
        // prototype), so the walk below sees and refuses it.
        value = JSON.parse(text);
      } catch {
        request.server.securityEvents.recordFor(request, 'input_validation_fail', { details: { reason: 'malformed_json' } });
        parsed(new RAMPART_ERR_MALFORMED_JSON(), undefined);
        return;
      }
      if (findForbiddenKey(value) !== null) {
        recordForbidden(request, 'body');
        parsed(new RAMPART_ERR_FORBIDDEN_KEY(), undefined);
        return;
      }
      if (containsNul(value)) {
        request.server.securityEvents.recordFor(request, 'input_validation_fail', { details: { reason: 'nul_character', location: 'body' } });
        parsed(new RAMPART_ERR_NUL_CHARACTER(), undefined);
        return;
      }
      parsed(null, value);
    });
    app.addHook('preValidation', (request, _reply, next) => {
      if (findForbiddenKey(request.query) !== null || findForbiddenKey(request.params) !== null) {
        recordForbidden(request, 'query');
        next(new RAMPART_ERR_FORBIDDEN_KEY());
        return;
      }
      if (containsNul(request.query) || containsNul(request.params)) {
        request.server.securityEvents.recordFor(request, 'input_validation_fail', { details: { reason: 'nul_character', location: 'query' } });
        next(new RAMPART_ERR_NUL_CHARACTER());
        return;
      }
      next();
    });
    done();
  },
  { name: 'rampart-input-hardening', dependencies: ['rampart-security-events'] },
);
