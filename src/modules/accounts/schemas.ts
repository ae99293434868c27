import { z } from 'zod';

/** Email as stored and indexed: trimmed, NFKC (so look-alike compatibility forms collapse), lowercased, at most 254. */
export function normalizeEmail(email: string): string {
  return email.trim().normalize('NFKC').toLowerCase();
}

export const emailSchema = z.string().max(320).transform(normalizeEmail).pipe(z.email().max(254));
export const nameSchema = z.string().max(400).transform((name) => name.trim().normalize('NFC')).pipe(z.string().min(1).max(100));
// The policy enforces the real bounds with a message that says how to fix it; this only bounds input size.
export const passwordSchema = z.string().min(1).max(1024);
// One-time tokens are 32 random bytes in base64url.
export const oneTimeTokenSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'not a valid token');

export const userSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  email: z.string(),
  role: z.enum(['author', 'moderator', 'admin']),
  emailVerified: z.boolean(),
  createdAt: z.iso.datetime(),
});
export type UserView = z.infer<typeof userSchema>;

export const registerBody = z.strictObject({ name: nameSchema, email: emailSchema, password: passwordSchema });
export const registeredSchema = z.object({ id: z.uuid(), name: z.string(), email: z.string() });
export const loginBody = z.strictObject({ email: emailSchema, password: passwordSchema });
export const tokenBody = z.strictObject({ token: oneTimeTokenSchema });
export const resetRequestBody = z.strictObject({ email: emailSchema });
export const resendVerificationBody = z.strictObject({ email: emailSchema });
export const resetConfirmBody = z.strictObject({ token: oneTimeTokenSchema, password: passwordSchema });
export const changePasswordBody = z.strictObject({ currentPassword: passwordSchema, newPassword: passwordSchema });
export const deleteAccountBody = z.strictObject({ password: passwordSchema });
export const setupBody = z.strictObject({ token: oneTimeTokenSchema, name: nameSchema, email: emailSchema, password: passwordSchema });
export const emailChangeBody = z.strictObject({ newEmail: emailSchema, password: passwordSchema.optional() });
/** The display name, with the registration's bounds. */
export const profileBody = z.strictObject({ displayName: registerBody.shape.name });
export const sessionIdParams = z.strictObject({ id: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/) });

export const sessionSchema = z.object({
  id: z.string(),
  current: z.boolean(),
  createdAt: z.iso.datetime(),
  lastSeenAt: z.iso.datetime(),
  ip: z.string(),
  userAgent: z.string(),
});
