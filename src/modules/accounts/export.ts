import { z } from 'zod';
import type { ModuleExport } from '../../kernel/module.js';
import { userSchema } from './schemas.js';

/** Security events about a user kept in an export: the latest this many. */
export const EXPORTED_EVENTS = 1000;

const exportSchema = z.object({
  profile: userSchema,
  sessions: z.array(z.object({ createdAt: z.iso.datetime(), lastSeenAt: z.iso.datetime(), ip: z.string(), userAgent: z.string() })),
  devices: z.array(z.object({ kind: z.string(), firstSeenAt: z.iso.datetime(), lastSeenAt: z.iso.datetime() })),
  securityEvents: z.array(z.object({
    event: z.string(), severity: z.string(), occurredAt: z.string(), clientIp: z.string().nullable(), details: z.record(z.string(), z.unknown()),
  })),
});

/** An event's details without keyed hashes (`email_index`, `session_hash`): they identify nothing for their owner, and are the server's keys. */
function ownDetails(details: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(details).filter(([key]) => !key.endsWith('_index') && !key.endsWith('_hash')));
}

/**
 * The accounts module's part of a data export: the profile, live sessions, remembered devices
 * and the security events whose actor is the user (newest first). Never the password hash,
 * the email's blind index, a session token or a device hash.
 */
export const accountsExport: ModuleExport = {
  schema: exportSchema,
  async collect(app, userId) {
    const profile = await app.accounts.findView(userId);
    if (profile === null) throw new Error('the exporting user is gone');
    const sessions = await app.sessions.list(userId);
    const devices = await app.accounts.devices.list(userId);
    const events = await app.securityEvents.about(userId, EXPORTED_EVENTS);
    return {
      profile,
      sessions: sessions.map((s) => ({ createdAt: new Date(s.createdAt).toISOString(), lastSeenAt: new Date(s.lastSeenAt).toISOString(), ip: s.ip, userAgent: s.userAgent })),
      devices: devices.map((d) => ({ kind: d.kind, firstSeenAt: d.firstSeenAt.toISOString(), lastSeenAt: d.lastSeenAt.toISOString() })),
      securityEvents: events.map((e) => ({ event: e.event, severity: e.severity, occurredAt: e.occurredAt ?? '', clientIp: e.clientIp, details: ownDetails(e.details) })),
    };
  },
};
