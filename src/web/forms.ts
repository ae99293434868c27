import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { RAMPART_ERR_BAD_REQUEST, RAMPART_ERR_FORBIDDEN_KEY, RAMPART_ERR_NUL_CHARACTER } from '../security/errors.js';
import { isForbiddenKey } from '../security/input-hardening.js';

/** A page form is a handful of short fields; 8 KiB is far above any of them and far below the API's limit. */
export const FORM_BODY_LIMIT = 8 * 1024;
const MAX_FIELDS = 32;

/**
 * Parses `application/x-www-form-urlencoded` bodies, in the calling (page) scope only: the
 * JSON API keeps refusing forms with 415, so a cross-site form can never reach it. A repeated
 * field is refused (never silently turned into an array), as is a forbidden key
 * (`__proto__`, `constructor`, `$…`) and a NUL character in any key or value (400
 * `RAMPART_ERR_NUL_CHARACTER`, as for JSON); the result has no prototype.
 */
export function addFormParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT }, (request, body, done) => {
    const fields: Record<string, string> = Object.create(null) as Record<string, string>;
    let count = 0;
    for (const [key, value] of new URLSearchParams(body as string)) {
      if (isForbiddenKey(key)) {
        request.server.securityEvents.recordFor(request, 'input_validation_fail', { details: { reason: 'forbidden_key', location: 'body' } });
        done(new RAMPART_ERR_FORBIDDEN_KEY());
        return;
      }
      count += 1;
      if (Object.hasOwn(fields, key) || count > MAX_FIELDS) {
        request.server.securityEvents.recordFor(request, 'input_validation_fail', { details: { reason: count > MAX_FIELDS ? 'too_many_fields' : 'repeated_field', location: 'body' } });
        done(new RAMPART_ERR_BAD_REQUEST());
        return;
      }
      // PostgreSQL text cannot hold U+0000: refused here like in a JSON body, never a 500 from the query.
      if (key.includes('\u0000') || value.includes('\u0000')) {
        request.server.securityEvents.recordFor(request, 'input_validation_fail', { details: { reason: 'nul_character', location: 'body' } });
        done(new RAMPART_ERR_NUL_CHARACTER());
        return;
      }
      fields[key] = value;
    }
    done(null, fields);
  });
}

/** The hidden `_csrf` field every form carries; the CSRF guard reads it. */
const csrfField = z.string().max(128);

/**
 * A form body: the declared fields plus `_csrf`, nothing else (unknown fields are refused).
 * `_csrf` is optional here so that a form without it reaches the CSRF guard, which refuses it
 * with its own 403 and `malicious_csrf` event rather than as a malformed form.
 */
export function formBody<T extends z.ZodRawShape>(shape: T) {
  return z.strictObject({ _csrf: csrfField.optional(), ...shape });
}

/** A text field of at most `max` characters (the real rules run in the handler, which re-renders the form with the message). */
export const textField = (max: number) => z.string().max(max);
