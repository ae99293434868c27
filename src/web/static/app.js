// Progressive enhancement only: every form works without this file. Loaded with the page's
// CSP nonce; it adds no inline code and no event-handler attributes.
'use strict';
document.addEventListener('submit', (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  // Destructive forms ask once more (data-confirm); without JavaScript the password field is the confirmation.
  const question = form.dataset.confirm;
  if (question !== undefined && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  // A double click must not send a form twice.
  for (const button of form.querySelectorAll('button[type="submit"]')) button.disabled = true;
});

// Live preview in the editor: the Markdown goes to the server, which renders and sanitizes it
// exactly as saving would (POST /api/posts/preview, with the page's CSRF token); only that
// sanitized HTML is shown. Typing pauses for 600 ms before each request, and the answer to an
// older request never replaces a newer one.
(() => {
  const form = document.querySelector('form[data-live-preview]');
  if (!(form instanceof HTMLFormElement)) return;
  const body = form.querySelector('textarea[name="body"]');
  const token = form.querySelector('input[name="_csrf"]');
  const section = document.getElementById('live-preview');
  const output = section?.querySelector('[data-preview-output]');
  const status = section?.querySelector('[data-preview-status]');
  if (!(body instanceof HTMLTextAreaElement) || !(token instanceof HTMLInputElement) || section === null || !output || !status) return;
  const endpoint = form.dataset.livePreview;
  let timer;
  let latest = 0;
  const render = async () => {
    const sequence = ++latest;
    if (body.value.trim() === '') {
      section.hidden = true;
      return;
    }
    let response;
    try {
      response = await fetch(endpoint, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', 'x-csrf-token': token.value },
        body: JSON.stringify({ body: body.value }),
      });
    } catch {
      return;
    }
    if (sequence !== latest) return;
    section.hidden = false;
    if (response.ok) {
      const { html } = await response.json();
      if (sequence !== latest) return;
      // Server-sanitized HTML (the stored post's allowlist), parsed inert by DOMParser and moved
      // in as nodes: no markup string is ever assigned to an element, and the page's CSP still applies.
      const parsed = new DOMParser().parseFromString(html, 'text/html');
      output.replaceChildren(...parsed.body.childNodes);
      status.textContent = 'Rendered and sanitized by the server, exactly as saving would. Not saved yet.';
    } else {
      status.textContent = response.status === 429 ? 'Preview paused: too many previews, try again in a minute.' : 'This cannot be previewed yet: check the body for the problem shown when you save.';
    }
  };
  body.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(render, 600);
  });
})();
