// Passkeys in the browser: the two navigator.credentials calls and the base64url conversions
// around them, written out rather than vendored (@simplewebauthn/browser does the same in more
// code). Loaded with the page's CSP nonce only on the pages that use it; no inline code, no
// event-handler attributes. The server checks everything; this file only carries bytes.
'use strict';
(() => {
  const TRANSPORTS = ['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'];
  const supported = typeof window.PublicKeyCredential === 'function' && typeof navigator.credentials?.create === 'function';

  function encode(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = '';
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function decode(text) {
    const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }

  const descriptors = (list) => (list ?? []).map((d) => ({ ...d, id: decode(d.id) }));

  function extensionResults(credential) {
    const results = credential.getClientExtensionResults();
    return results.credProps === undefined ? {} : { credProps: { rk: results.credProps.rk } };
  }

  /** Registers a passkey from the server's creation options; the answer in the JSON form the server takes. */
  async function create(options) {
    const credential = await navigator.credentials.create({
      publicKey: { ...options, challenge: decode(options.challenge), user: { ...options.user, id: decode(options.user.id) }, excludeCredentials: descriptors(options.excludeCredentials) },
    });
    const response = credential.response;
    const transports = typeof response.getTransports === 'function' ? response.getTransports().filter((t) => TRANSPORTS.includes(t)) : undefined;
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment ?? undefined,
      clientExtensionResults: extensionResults(credential),
      response: { clientDataJSON: encode(response.clientDataJSON), attestationObject: encode(response.attestationObject), transports },
    };
  }

  /** Signs with a passkey for the server's request options. */
  async function get(options) {
    const credential = await navigator.credentials.get({
      publicKey: { ...options, challenge: decode(options.challenge), allowCredentials: descriptors(options.allowCredentials) },
    });
    const response = credential.response;
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment ?? undefined,
      clientExtensionResults: extensionResults(credential),
      response: {
        clientDataJSON: encode(response.clientDataJSON),
        authenticatorData: encode(response.authenticatorData),
        signature: encode(response.signature),
        userHandle: response.userHandle === null ? undefined : encode(response.userHandle),
      },
    };
  }

  async function post(url, token, body) {
    const response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': token },
      body: JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    return { ok: response.ok, status: response.status, data };
  }

  /** What to tell a person when the browser's own step ended without a credential. */
  function browserMessage(error) {
    if (error?.name === 'NotAllowedError') return 'The passkey request was cancelled or timed out.';
    if (error?.name === 'InvalidStateError') return 'This device already holds a passkey for your account.';
    if (error?.name === 'SecurityError') return 'Passkeys do not work at this address: open the site at its public address (in development, http://localhost).';
    return 'The browser could not use a passkey.';
  }

  const problem = (result, fallback) => (typeof result.data?.title === 'string' ? result.data.title : fallback);

  window.rampartPasskeys = Object.freeze({ supported, create, get });
  if (!supported) return;

  // `next` was checked by the server when it rendered the page; only a same-origin path is followed.
  function nextPath(fallback) {
    const next = document.querySelector('input[name="next"]');
    return next instanceof HTMLInputElement && /^\/(?![/\\])/.test(next.value) ? next.value : fallback;
  }

  /**
   * A button that proves a passkey: options from `optionsUrl`, the browser's ceremony, the answer
   * to `verifyUrl` (its body built by `body`), then on to `next`.
   */
  function assertionButton(root, optionsUrl, optionsBody, verifyUrl, body, fallback) {
    const button = root.querySelector('button');
    const status = root.querySelector('[data-passkey-status]');
    const token = document.querySelector('input[name="_csrf"]');
    root.hidden = false;
    button?.addEventListener('click', async () => {
      if (!(token instanceof HTMLInputElement)) return;
      button.disabled = true;
      status.textContent = '';
      try {
        const options = await post(optionsUrl, token.value, optionsBody);
        if (!options.ok) {
          status.textContent = problem(options, 'Passkeys are not available right now.');
          return;
        }
        let response;
        try {
          response = await get(options.data);
        } catch (error) {
          status.textContent = browserMessage(error);
          return;
        }
        const result = await post(verifyUrl, token.value, body(response));
        if (!result.ok) {
          status.textContent = problem(result, 'The passkey could not be verified.');
          return;
        }
        window.location.assign(nextPath(fallback));
      } finally {
        button.disabled = false;
      }
    });
  }

  // The sign-in's second step: "Use a passkey", bound to the pending sign-in.
  const secondFactor = document.querySelector('[data-passkey-second-factor]');
  if (secondFactor !== null) {
    const challenge = secondFactor.getAttribute('data-challenge') ?? '';
    assertionButton(secondFactor, '/api/auth/login/second-factor/passkey/options', { challenge }, '/api/auth/login/second-factor/passkey', (response) => ({ challenge, response }), '/account');
  }

  // The confirmation page (step-up): "Use a passkey".
  const stepUp = document.querySelector('[data-passkey-step-up]');
  if (stepUp !== null) {
    assertionButton(stepUp, '/api/auth/step-up/passkey/options', {}, '/api/auth/step-up', (response) => ({ passkey: response }), '/account');
  }

  // The sign-in page: "Sign in with a passkey" (passwordless).
  const signIn = document.querySelector('[data-passkey-sign-in]');
  if (signIn !== null) {
    assertionButton(signIn, '/api/auth/passkey/options', {}, '/api/auth/passkey', (response) => ({ response }), '/account');
  }

  // The account page: "Add a passkey".
  const register = document.querySelector('form[data-passkey-register]');
  if (register instanceof HTMLFormElement) {
    const status = register.querySelector('[data-passkey-status]');
    const token = register.querySelector('input[name="_csrf"]');
    const name = register.querySelector('input[name="name"]');
    register.hidden = false;
    register.addEventListener('submit', async (event) => {
      event.preventDefault();
      const enable = () => {
        for (const button of register.querySelectorAll('button')) button.disabled = false;
      };
      if (!(token instanceof HTMLInputElement) || !(name instanceof HTMLInputElement)) return;
      status.textContent = '';
      try {
        if (name.value.trim() === '') {
          status.textContent = 'Name the passkey (1 to 100 characters), so you can recognise it later.';
          return;
        }
        const options = await post('/api/account/passkeys/registration/options', token.value, {});
        if (options.status === 401 && options.data?.type === 'urn:rampart:problem:step-up-required') {
          // Adding a passkey is a sensitive action: confirm it is you first, then come back.
          window.location.assign('/account/confirm?next=%2Faccount');
          return;
        }
        if (!options.ok) {
          status.textContent = problem(options, 'A passkey cannot be added right now.');
          return;
        }
        let response;
        try {
          response = await create(options.data);
        } catch (error) {
          status.textContent = browserMessage(error);
          return;
        }
        const result = await post('/api/account/passkeys', token.value, { name: name.value, response });
        if (!result.ok) {
          status.textContent = problem(result, 'The new passkey could not be verified.');
          return;
        }
        window.location.assign('/account?done=passkey-added');
      } finally {
        enable();
      }
    });
  }
})();
