import Bowser from 'bowser';

// The stored User-Agent is already cut to 256 characters; the bound is repeated here so the
// parser's regular expressions never see more, whatever a caller passes.
const MAX_USER_AGENT = 256;
const MAX_NAME = 40;

/** A parsed name, bounded, or null when the parser found none. */
function bounded(name: string | undefined): string | null {
  const trimmed = (name ?? '').trim();
  return trimmed === '' ? null : trimmed.slice(0, MAX_NAME);
}

/**
 * A session's browser and operating system for a person to recognise (`Chrome 131 on
 * Windows`), read from its User-Agent by bowser. The result is plain text that the template
 * escapes like any other value; an empty or unrecognised header gives "Unknown browser".
 */
export function describeUserAgent(userAgent: string): string {
  if (typeof userAgent !== 'string' || userAgent.trim() === '') return 'Unknown browser';
  let browser: string | null = null;
  let version: string | null = null;
  let os: string | null = null;
  try {
    const parser = Bowser.getParser(userAgent.slice(0, MAX_USER_AGENT));
    browser = bounded(parser.getBrowserName());
    version = bounded(parser.getBrowserVersion()?.split('.')[0]);
    os = bounded(parser.getOSName());
  } catch {
    // A header the parser cannot read is shown as unknown, never as its raw text.
  }
  const name = browser === null ? 'Unknown browser' : version === null ? browser : `${browser} ${version}`;
  return os === null ? name : `${name} on ${os}`;
}
