import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MAX_NEXT_LENGTH, safeNextPath } from '../../src/security/redirects.js';

const SITE = 'https://rampart.example';

/** Where a browser goes for a Location value on this site, after up to three decodings by anything on the way. */
function destinations(path: string): string[] {
  const seen = [path];
  let current = path;
  for (let i = 0; i < 3; i++) {
    try {
      current = decodeURIComponent(current);
    } catch {
      break;
    }
    seen.push(current, current.normalize('NFKC'));
  }
  // A resolved path starting with `//` would become a network-path reference if anything redirected to it.
  return seen.map((p) => {
    const url = new URL(p, SITE);
    return url.pathname.startsWith('//') ? `escaped through ${url.pathname}` : url.origin;
  });
}

// Open-redirect payloads collected from the usual cheat sheets, each of which must fall back to `/`.
const HOSTILE = [
  '//evil.example', '///evil.example', '////evil.example', '/\\evil.example', '\\/evil.example', '\\\\evil.example',
  '/\\/evil.example', 'https://evil.example', 'http://evil.example/', 'HTTPS://evil.example', '//evil.example/%2F..',
  'javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'java\tscript:alert(1)', 'data:text/html,<script>alert(1)</script>',
  'vbscript:msgbox(1)', 'evil.example', 'evil', '', ' /', '/ ', '/\t/evil.example', '/\n/evil.example', '/\r\n/evil.example',
  '\t//evil.example', '/%09/evil.example', '/%0a/evil.example', '/%0d%0a/evil.example', '/%00/evil.example', '/x%00',
  '/%2F%2Fevil.example', '/%2f%2fevil.example', '%2F%2Fevil.example', '%2f%2fevil.example', '/%5Cevil.example', '/%5cevil.example',
  '/%252F%252Fevil.example', '/%25252F%25252Fevil.example', '/%5C%5Cevil.example', '%5C%5Cevil.example', '/.%2F%2Fevil',
  '/%C0%AF%C0%AFevil.example', '/%C0%AE%C0%AE/', '/%E0%80%AFevil.example', '/%EF%BC%8F%EF%BC%8Fevil.example', '/%EF%BC%8Fevil.example',
  '/\uFF0F/evil.example', '\uFF0F\uFF0Fevil.example', '/%EF%B9%A8evil.example', '/%E2%80%AE/evil.example', '/%E2%80%8B/evil.example',
  '/%C2%85/evil.example', '/\u00A0/evil.example', '/%', '/%zz', '/%E0%A4%A', 'https:/evil.example', 'https:evil.example',
  `/${'a'.repeat(MAX_NEXT_LENGTH)}`, '/\u0000', '/\u007F', '/a\\b', '/a b', '@evil.example', '/@evil.example\\',
];

const SAFE = ['/', '/account', '/posts/42', '/posts/42?page=2&sort=new', '/search?q=a%20b', '/a%2Fb', '/x?next=%2F%2Fevil.example', '/%E2%9C%93', '/posts#comments', '/a/./b', '/javascript:alert(1)', `/${'a'.repeat(MAX_NEXT_LENGTH - 1)}`];

describe('safeNextPath', () => {
  for (const value of HOSTILE) {
    it(`falls back to / for ${JSON.stringify(value).slice(0, 60)}`, () => {
      assert.equal(safeNextPath(value), '/');
    });
  }

  it('keeps same-origin paths exactly as given', () => {
    for (const value of SAFE) assert.equal(safeNextPath(value), value, value);
  });

  it('falls back to / for anything that is not one string', () => {
    for (const value of [undefined, null, 42, ['/account'], { toString: () => '/account' }, true]) assert.equal(safeNextPath(value), '/');
  });

  it('returns either / or the input, and the input only when every decoding of it stays on the site (any string)', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (value) => {
      const result = safeNextPath(value);
      assert.ok(result === '/' || result === value);
      if (result !== '/') for (const origin of destinations(result)) assert.equal(origin, SITE);
    }), { numRuns: 5000 });
  });

  it('keeps the site for strings built from the pieces redirect attacks use', () => {
    const piece = fc.constantFrom('/', '//', '\\', '%2F', '%2f', '%5C', '%25', '%252F', '%C0%AF', '%EF%BC%8F', '\uFF0F', '%09', '%0A', '\t', '\n', ' ',
      'evil.example', 'https:', 'javascript:', '@', '.', '..', '?', '#', ':', 'a', '%00', '%E2%80%8B');
    fc.assert(fc.property(fc.array(piece, { minLength: 1, maxLength: 8 }), (pieces) => {
      const value = pieces.join('');
      const result = safeNextPath(value);
      assert.ok(result === '/' || result === value);
      if (result !== '/') for (const origin of destinations(result)) assert.equal(origin, SITE, value);
    }), { numRuns: 20_000 });
  });

  it('accepts every plain path of safe segments unchanged', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._~-]{1,20}$/);
    fc.assert(fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), (segments) => {
      const path = `/${segments.join('/')}`;
      assert.equal(safeNextPath(path), path);
    }));
  });
});
