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
