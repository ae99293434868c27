import { z } from 'zod';
import { lineSchema } from '../../security/schema-primitives.js';

/**
 * The JSON forms of WebAuthn's credentials (WebAuthn L3 `toJSON()`, what `@simplewebauthn/browser`
 * sends), bounded: base64url strings only, each with the longest length a real authenticator
 * produces, unknown keys refused. The signatures and contents are checked by the ceremony.
 */
const b64url = (max: number) => z.string().min(1).max(max).regex(/^[A-Za-z0-9_-]+$/, 'base64url');
const credentialId = b64url(1364);
const TRANSPORTS = ['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'] as const;
const attachment = z.enum(['platform', 'cross-platform']).optional();
/** The extension outputs Rampart asks for (credProps at registration); any other key is refused. */
const extensionResults = z.strictObject({ credProps: z.strictObject({ rk: z.boolean().optional() }).optional() });

/** The fields both ceremonies' credentials share; each adds its own `response`. */
const credential = {
  id: credentialId,
  rawId: credentialId,
  type: z.literal('public-key'),
  authenticatorAttachment: attachment,
  clientExtensionResults: extensionResults,
};

export const registrationResponseSchema = z.strictObject({
  ...credential,
  response: z.strictObject({
    clientDataJSON: b64url(4096),
    attestationObject: b64url(8192),
    authenticatorData: b64url(4096).optional(),
    transports: z.array(z.enum(TRANSPORTS)).max(TRANSPORTS.length).optional(),
    publicKeyAlgorithm: z.number().int().min(-65536).max(65535).optional(),
    publicKey: b64url(2048).optional(),
  }),
});

export const authenticationResponseSchema = z.strictObject({
  ...credential,
  response: z.strictObject({
    clientDataJSON: b64url(4096),
    authenticatorData: b64url(4096),
    signature: b64url(1024),
    userHandle: b64url(128).optional(),
  }),
});

export type RegistrationResponse = z.infer<typeof registrationResponseSchema>;
export type AuthenticationResponse = z.infer<typeof authenticationResponseSchema>;

export const passkeyNameSchema = lineSchema(1, 100);
export const registerVerifyBody = z.strictObject({ name: passkeyNameSchema, response: registrationResponseSchema });
export const signInVerifyBody = z.strictObject({ response: authenticationResponseSchema });
export const renameBody = z.strictObject({ name: passkeyNameSchema });

export const passkeySchema = z.object({
  id: z.uuid(),
  name: z.string(),
  deviceType: z.enum(['singleDevice', 'multiDevice']),
  backedUp: z.boolean(),
  createdAt: z.iso.datetime(),
  lastUsedAt: z.iso.datetime().nullable(),
});

const descriptor = z.object({ id: z.string(), type: z.literal('public-key'), transports: z.array(z.string()).optional() });

/** `PublicKeyCredentialCreationOptionsJSON`, as the browser's `PublicKeyCredential.parseCreationOptionsFromJSON` takes it. */
export const creationOptionsSchema = z.object({
  rp: z.object({ name: z.string(), id: z.string().optional() }),
  user: z.object({ id: z.string(), name: z.string(), displayName: z.string() }),
  challenge: z.string(),
  pubKeyCredParams: z.array(z.object({ alg: z.number(), type: z.literal('public-key') })),
  timeout: z.number().optional(),
  excludeCredentials: z.array(descriptor).optional(),
  authenticatorSelection: z.object({
    authenticatorAttachment: z.string().optional(),
    residentKey: z.string().optional(),
    requireResidentKey: z.boolean().optional(),
    userVerification: z.string().optional(),
  }).optional(),
  attestation: z.string().optional(),
  extensions: z.object({ credProps: z.boolean().optional() }).optional(),
});

/** `PublicKeyCredentialRequestOptionsJSON`. */
export const requestOptionsSchema = z.object({
  challenge: z.string(),
  timeout: z.number().optional(),
  rpId: z.string().optional(),
  allowCredentials: z.array(descriptor).optional(),
  userVerification: z.string().optional(),
});
