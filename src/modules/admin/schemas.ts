import { z } from 'zod';
import { SECURITY_EVENTS } from '../../security/security-events.js';
import { cursorSchema, dateTimeSchema, limitSchema } from '../../security/schema-primitives.js';
import { ROLES } from '../../security/authorization.js';

export const roleSchema = z.enum(ROLES);

export const listUsersQuery = z.strictObject({
  role: roleSchema.optional(),
  cursor: cursorSchema.optional(),
  limit: limitSchema(50, 50),
});

// Exactly the fields an administrator may change; anything else (name, email, password…) is a 400.
export const updateUserBody = z.strictObject({ role: roleSchema.optional(), disabled: z.boolean().optional() })
  .refine((body) => body.role !== undefined || body.disabled !== undefined, 'name at least one of role, disabled');

/** A user as administrators see it. The email is null when its ciphertext no longer opens (a tampered row). */
export const adminUserSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  email: z.string().nullable(),
  role: roleSchema,
  disabled: z.boolean(),
  emailVerified: z.boolean(),
  createdAt: z.iso.datetime(),
});
export type AdminUserView = z.infer<typeof adminUserSchema>;
export const adminUserPageSchema = z.object({ items: z.array(adminUserSchema), nextCursor: z.string().nullable() });
export const userCursorSchema = z.strictObject({ n: z.string().max(100), i: z.uuid() });

const EVENT_NAMES = Object.keys(SECURITY_EVENTS) as [keyof typeof SECURITY_EVENTS, ...(keyof typeof SECURITY_EVENTS)[]];

export const listEventsQuery = z.strictObject({
  event: z.enum(EVENT_NAMES).optional(),
  actor: z.string().regex(/^[A-Za-z0-9_:-]{1,64}$/, 'an actor id').optional(),
  from: dateTimeSchema.optional(),
  to: dateTimeSchema.optional(),
  cursor: cursorSchema.optional(),
  limit: limitSchema(50, 50),
});

export const securityEventSchema = z.object({
  id: z.string(),
  occurredAt: z.iso.datetime(),
  event: z.string(),
  severity: z.string(),
  actor: z.string().nullable(),
  clientIp: z.string().nullable(),
  requestId: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});
export const securityEventPageSchema = z.object({ items: z.array(securityEventSchema), nextCursor: z.string().nullable() });
export const eventCursorSchema = z.strictObject({ i: z.string().regex(/^[1-9][0-9]{0,18}$/) });
