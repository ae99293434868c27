import type { MailMessage } from '../../platform/mailer.js';

/** Account mail. Links are built from the configured public URL, never from a request's Host header. */
export function verificationMail(to: string, publicUrl: string, token: string): MailMessage {
  return {
    to,
    subject: 'Confirm your email address',
    text: `Welcome to Rampart.\n\nConfirm your email address by opening this link within 24 hours:\n\n${publicUrl}/verify-email?token=${token}\n\nIf you did not create an account, ignore this message. If you did and your password is refused after confirming, choose a new one at ${publicUrl}/forgot-password.\n`,
  };
}

export function duplicateRegistrationMail(to: string, publicUrl: string): MailMessage {
  return {
    to,
    subject: 'Someone tried to register with your address',
    text: `Someone tried to create a Rampart account with this email address, which already has one.\n\nIf it was you, sign in at ${publicUrl}/login, or reset your password at ${publicUrl}/forgot-password (a reset through the mailed link also confirms the address, if it was never confirmed).\nIf it was not you, you can ignore this message: nothing was changed.\n`,
  };
}

/** The answer to a resend request for an address that is already confirmed: only its owner reads it. */
export function alreadyVerifiedMail(to: string, publicUrl: string): MailMessage {
  return {
    to,
    subject: 'Your email address is already confirmed',
    text: `Someone asked for a new confirmation link for this address, which is already confirmed.\n\nIf it was you, sign in at ${publicUrl}/login, or reset your password at ${publicUrl}/forgot-password if you have forgotten it.\nIf it was not you, you can ignore this message: nothing was changed.\n`,
  };
}

export function resetMail(to: string, publicUrl: string, token: string): MailMessage {
  return {
    to,
    subject: 'Reset your password',
    text: `Someone asked to reset the password of your Rampart account.\n\nTo choose a new password, open this link within 30 minutes:\n\n${publicUrl}/reset-password?token=${token}\n\nIf it was not you, ignore this message: your password is unchanged.\n`,
  };
}

/** To the new address: the change takes effect only through this link. */
export function emailChangeConfirmMail(to: string, publicUrl: string, token: string): MailMessage {
  return {
    to,
    subject: 'Confirm your new email address',
    text: `Someone signed in to a Rampart account asked to use this address for it.\n\nTo confirm, open this link within 24 hours:\n\n${publicUrl}/confirm-email-change?token=${token}\n\nIf it was not you, ignore this message: nothing changes without the link.\n`,
  };
}

/** To the old address once a change took effect: the undo link, valid 7 days. */
export function emailChangedUndoMail(to: string, publicUrl: string, token: string): MailMessage {
  return {
    to,
    subject: 'Your email address was changed',
    text: `The email address of your Rampart account was changed from this address to another one.\n\nIf it was you, there is nothing to do.\nIf it was not you, open this link within 7 days to undo it:\n\n${publicUrl}/undo-email-change?token=${token}\n\nUndoing restores this address, signs every session out, revokes every API token, and mails this address a link to choose a new password (the old one stops working, since whoever changed the address may know it).\n`,
  };
}

/** To an address that already belongs to an account, when someone asked to move another account to it. */
export function emailTakenMail(to: string, publicUrl: string): MailMessage {
  return {
    to,
    subject: 'Someone tried to use your address for another account',
    text: `Someone signed in to a Rampart account asked to change its email address to this one, which already belongs to an account (yours, or one waiting for it).\n\nNothing was changed. If it was you, sign in at ${publicUrl}/login with this address instead.\nIf it was not you, you can ignore this message.\n`,
  };
}
