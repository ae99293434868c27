import type { CDPSession, Page } from 'playwright-core';

/** A Chromium DevTools virtual authenticator attached to one page (its tab), as a platform authenticator with a screen lock. */
export interface VirtualAuthenticator {
  readonly session: CDPSession;
  readonly authenticatorId: string;
  /** The credentials it holds, with their private keys and signature counters (CDP `WebAuthn.getCredentials`). */
  credentials(): Promise<VirtualCredential[]>;
  /** Adds a credential, e.g. a copy of another authenticator's (a clone). */
  addCredential(credential: VirtualCredential): Promise<void>;
}

export interface VirtualCredential {
  readonly credentialId: string;
  readonly isResidentCredential: boolean;
  readonly rpId?: string;
  readonly privateKey: string;
  readonly userHandle?: string;
  readonly signCount: number;
}

/**
 * Adds a CTAP2 authenticator that keeps discoverable credentials and verifies its user, and
 * answers every request without a prompt: a real authenticator's responses (real keys,
 * signatures and counters), produced by the browser's real WebAuthn code.
 */
export async function addVirtualAuthenticator(page: Page): Promise<VirtualAuthenticator> {
  const session = await page.context().newCDPSession(page);
  await session.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await session.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return {
    session,
    authenticatorId,
    async credentials() {
      const { credentials } = await session.send('WebAuthn.getCredentials', { authenticatorId });
      return credentials;
    },
    async addCredential(credential) {
      await session.send('WebAuthn.addCredential', { authenticatorId, credential });
    },
  };
}

/** Registers in the page with the server's creation options, through the page's own passkeys.js; the JSON answer, not yet sent. */
export function createIn(page: Page, options: unknown): Promise<Record<string, unknown>> {
  return page.evaluate((o) => (window as unknown as { rampartPasskeys: { create(o: unknown): Promise<Record<string, unknown>> } }).rampartPasskeys.create(o), options);
}

/** Signs in the page with the server's request options, through passkeys.js; the JSON assertion, not yet sent. */
export function getIn(page: Page, options: unknown): Promise<Record<string, unknown>> {
  return page.evaluate((o) => (window as unknown as { rampartPasskeys: { get(o: unknown): Promise<Record<string, unknown>> } }).rampartPasskeys.get(o), options);
}
