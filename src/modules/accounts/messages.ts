import type { MailMessage } from '../../platform/mailer.js';

/** Account mail. Links are built from the configured public URL, never from a request's Host header. */
export function verificationMail(to: string, publicUrl: string, token: string): MailMessage {
  return {
    to,
    subject: 'Confirm your email address',
    text: `Welcome to Rampart.\n\nConfirm your email address by opening this link within 24 hours:\n\n${publicUrl}/verify-email?token=${token}\n\nIf you did not create an account, ignore this message.\n`,
  };
}

export function duplicateRegistrationMail(to: string, publicUrl: string): MailMessage {
  return {
    to,
    subject: 'Someone tried to register with your address',
    text: `Someone tried to create a Rampart account with this email address, which already has one.\n\nIf it was you, sign in at ${publicUrl}/login, or reset your password at ${publicUrl}/forgot-password.\nIf it was not you, you can ignore this message: nothing was changed.\n`,
  };
}

export function resetMail(to: string, publicUrl: string, token: string): MailMessage {
  return {
    to,
    subject: 'Reset your password',
    text: `Someone asked to reset the password of your Rampart account.\n\nTo choose a new password, open this link within 30 minutes:\n\n${publicUrl}/reset-password?token=${token}\n\nIf it was not you, ignore this message: your password is unchanged.\n`,
  };
}
