import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SETTINGS } from '../../src/config/settings.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('documents every setting in the configuration table, and no setting that does not exist', () => {
    for (const setting of SETTINGS) assert.ok(readme.includes(`| \`${setting.name}\``), `${setting.name} is missing from the README table`);
    const documented = [...readme.matchAll(/^\| `((?:RAMPART|DATABASE|REDIS|NODE)_(?!ERR_)[A-Z_]+)`/gm)].map((m) => m[1]);
    const known = new Set(SETTINGS.map((s) => s.name));
    for (const name of documented) assert.ok(name !== undefined && known.has(name), `${String(name)} is documented but not a setting`);
  });

  it('documents every deploy check id the source can emit', () => {
    // The mfa module's boot-time check (RAMPART-W030) reads the database, so it lives there.
    const sources = ['config/deploy-checks.ts', 'config/config.ts', 'config/encryption-keys.ts', 'modules/mfa/index.ts'].map((f) => readFileSync(new URL(`../../src/${f}`, import.meta.url), 'utf8')).join('\n');
    const ids = new Set<string>();
    for (const m of sources.matchAll(/(?:error|warning)\('(\d{3})'/g)) ids.add(`${sources.slice(m.index).startsWith('warning') ? 'W' : 'E'}${m[1] ?? ''}`);
    for (const m of sources.matchAll(/id: 'RAMPART-([EW]\d{3})'/g)) ids.add(m[1] ?? '');
    assert.ok(ids.size >= 20, `found ${ids.size} ids`);
    for (const id of ids) assert.ok(readme.includes(`RAMPART-${id}`), `RAMPART-${id} is missing from the README`);
  });
});
