import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SETTINGS } from '../../src/config/settings.js';
import { ACCOUNT_ERRORS } from '../../src/modules/accounts/errors.js';
import { ADMIN_ERRORS } from '../../src/modules/admin/errors.js';
import { COMMENT_ERRORS } from '../../src/modules/comments/errors.js';
import { POST_ERRORS } from '../../src/modules/posts/errors.js';
import { TOKEN_ERRORS } from '../../src/modules/tokens/errors.js';
import { AUTH_ERR_INSUFFICIENT_SCOPE, AUTH_ERR_INVALID_TOKEN, AUTH_ERR_UNAUTHENTICATED } from '../../src/security/authentication.js';
import { AUTHZ_ERR_FORBIDDEN } from '../../src/security/authorization.js';
import { KERNEL_ERRORS } from '../../src/security/errors.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('documents every setting in the configuration table, and no setting that does not exist', () => {
    for (const setting of SETTINGS) assert.ok(readme.includes(`| \`${setting.name}\``), `${setting.name} is missing from the README table`);
    const documented = [...readme.matchAll(/^\| `((?:RAMPART|DATABASE|REDIS|NODE)_(?!ERR_)[A-Z_]+)`/gm)].map((m) => m[1]);
    const known = new Set(SETTINGS.map((s) => s.name));
    for (const name of documented) assert.ok(name !== undefined && known.has(name), `${String(name)} is documented but not a setting`);
  });

  it('documents every kernel error code', () => {
    for (const E of KERNEL_ERRORS) {
      const { code } = new E();
      if (code === 'RAMPART_ERR_METHOD_NOT_ALLOWED') continue;
      assert.ok(readme.includes(`\`${code}\``), `${code} is missing from the README`);
    }
  });

  it('documents every module error code, each once, and no code twice', () => {
    const errors = [...ACCOUNT_ERRORS, ...TOKEN_ERRORS, ...POST_ERRORS, ...COMMENT_ERRORS, ...ADMIN_ERRORS, AUTHZ_ERR_FORBIDDEN, AUTH_ERR_UNAUTHENTICATED, AUTH_ERR_INVALID_TOKEN, AUTH_ERR_INSUFFICIENT_SCOPE];
    const codes = [...errors, ...KERNEL_ERRORS].map((E) => new E().code);
    assert.equal(new Set(codes).size, codes.length, 'error codes are unique');
    for (const code of codes) if (code !== 'RAMPART_ERR_METHOD_NOT_ALLOWED') assert.ok(readme.includes(`| \`${code}\``), `${code} is missing from the README error table`);
  });

  it('documents every deploy check id the source can emit', () => {
    const sources = ['deploy-checks.ts', 'config.ts'].map((f) => readFileSync(new URL(`../../src/config/${f}`, import.meta.url), 'utf8')).join('\n');
    const ids = new Set<string>();
    for (const m of sources.matchAll(/(?:error|warning)\('(\d{3})'/g)) ids.add(`${sources.slice(m.index).startsWith('warning') ? 'W' : 'E'}${m[1] ?? ''}`);
    for (const m of sources.matchAll(/id: 'RAMPART-([EW]\d{3})'/g)) ids.add(m[1] ?? '');
    assert.ok(ids.size >= 20, `found ${ids.size} ids`);
    for (const id of ids) assert.ok(readme.includes(`RAMPART-${id}`), `RAMPART-${id} is missing from the README`);
  });
});
