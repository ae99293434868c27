/**
 * The second-factor page's view: the code form when the user has an authenticator app (codes and
 * recovery codes), the "Use a passkey" button (passkeys.js) when they have a passkey.
 */
export function secondFactorView(challenge: string, methods: readonly string[], next: string, error: string) {
  const codes = methods.includes('totp') || methods.length === 0;
  const passkey = methods.includes('passkey');
  return { title: 'Two-step verification', challenge, next, error, codes, passkey, ...(passkey ? { pageScript: 'passkeys.js' } : {}) };
}
