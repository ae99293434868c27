import { z } from 'zod';
import { passwordSchema } from '../accounts/schemas.js';
import { authenticationResponseSchema } from '../passkeys/schemas.js';

/** A TOTP code (6 digits) or a recovery code (XXXX-XXXX-XXXX, case and separators free). */
export const codeSchema = z.string().min(6).max(32);
export const challengeSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'not a challenge');

export const codeBody = z.strictObject({ code: codeSchema });
export const secondFactorBody = z.strictObject({ challenge: challengeSchema, code: codeSchema });
export const secondFactorPasskeyBody = z.strictObject({ challenge: challengeSchema, response: authenticationResponseSchema });
export const pendingChallengeBody = z.strictObject({ challenge: challengeSchema });
/** Step-up: the password, a code, or a passkey assertion (options from `POST /api/auth/step-up/passkey/options`). */
export const stepUpBody = z.union([z.strictObject({ password: passwordSchema }), z.strictObject({ code: codeSchema }), z.strictObject({ passkey: authenticationResponseSchema })]);

export const mfaStatusSchema = z.object({ totp: z.boolean(), recoveryCodesLeft: z.number().int() });
export const enrolmentSchema = z.object({ secret: z.string(), uri: z.string(), qrSvg: z.string() });
export const recoveryCodesSchema = z.object({ recoveryCodes: z.array(z.string()) });
export const stepUpSchema = z.object({ status: z.literal('confirmed'), expiresIn: z.number().int() });
