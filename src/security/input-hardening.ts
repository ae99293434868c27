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

// Body schemas already judged by acceptsEmptyObject: each is tried once, not per request.
const judged = new WeakMap<object, boolean>();

interface StandardSchema {
  readonly '~standard': { validate(value: unknown): { readonly issues?: unknown } | PromiseLike<unknown> };
}

function isStandardSchema(schema: unknown): schema is StandardSchema {
  if (typeof schema !== 'object' || schema === null || !('~standard' in schema)) return false;
  const standard = schema['~standard'];
  return typeof standard === 'object' && standard !== null && 'validate' in standard && typeof standard.validate === 'function';
}

/**
 * Whether a body schema accepts `{}`, that is, names no required field: an action route such
 * as logout or publish. Such a route treats a request without a body (or with an empty one)
 * as `{}`, so `curl -X POST` works; a route with a required field refuses it as
 * `RAMPART_ERR_EMPTY_BODY`. Judged through the Standard Schema interface (zod implements it);
 * a schema without it, or one that validates asynchronously, counts as requiring a body.
 */
export function acceptsEmptyObject(schema: unknown): boolean {
  if (typeof schema !== 'object' || schema === null) return false;
  const known = judged.get(schema);
  if (known !== undefined) return known;
  let accepts = false;
  if (isStandardSchema(schema)) {
    const result = schema['~standard'].validate({});
    accepts = !('then' in result) && (result as { issues?: unknown }).issues === undefined;
  }
  judged.set(schema, accepts);
  return accepts;
}

function recordForbidden(request: FastifyRequest, location: string): void {
  request.server.securityEvents.recordFor(request, 'input_validation_fail', { details: { reason: 'forbidden_key', location } });
}

/**
 * Replaces Fastify's body parsers: JSON is the only accepted body type (text/plain, forms
 * and multipart get 415, so a cross-site form cannot reach a JSON route), and a body or
 * query with a forbidden key is refused with 400 and an `input_validation_fail` event.
 * A request without a body (none, or an empty one) is `{}` on a route whose body schema has
 * no required field, and `RAMPART_ERR_EMPTY_BODY` on any other route with a body schema.
 */
export const inputHardeningPlugin = fp(
  (app: FastifyInstance, _opts: object, done: (err?: Error) => void) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, parsed) => {
      const text = body as string;
      // An empty body is no body: the preValidation hook below decides what the route makes of it.
      if (text.length === 0) {
        parsed(null, undefined);
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
      // No body at all: Fastify would validate it as `null`, which no object schema accepts.
      if (request.body === undefined) {
        const schema = request.routeOptions.schema?.body;
        if (schema !== undefined) {
          if (!acceptsEmptyObject(schema)) {
            next(new RAMPART_ERR_EMPTY_BODY());
            return;
          }
          request.body = {};
        }
      }
      next();
    });
    done();
  },
  { name: 'rampart-input-hardening', dependencies: ['rampart-security-events'] },
);
