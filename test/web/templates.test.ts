import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { STATIC_DIR, VIEWS_DIR } from '../../src/web/assets.js';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

/**
 * The one reviewed raw output: `partials/sanitized-html.eta` prints a post's HTML, which
 * src/modules/posts/rendering.ts rendered and sanitized on write (or for a preview). The post
 * and editor pages include it; no other template may print raw HTML.
 */
export const SANITIZED_HTML_PARTIAL = join('partials', 'sanitized-html.eta');
const SANITIZED_HTML_OUTPUT = '<%~ it.html %>';

/** Why a template breaks the page rules, or null. The page CSP would block these; the templates must not even try. */
export function templateViolation(source: string, path = ''): string | null {
  if (/<style[\s>]/i.test(source)) return 'an inline <style> element';
  if (/\sstyle\s*=/i.test(source)) return 'a style= attribute';
  if (/\son[a-z]+\s*=/i.test(source)) return 'an on*= event-handler attribute';
  if (/javascript:/i.test(source)) return 'a javascript: URL';
  for (const tag of source.match(/<script\b[^>]*>[\s\S]*?<\/script>/gi) ?? []) {
    if (!/\ssrc="/.test(tag)) return 'an inline <script>';
    if (!/\snonce="<%= it\.nonce %>"/.test(tag)) return 'a <script> without the nonce';
    if (!/>\s*<\/script>$/.test(tag)) return 'a <script> with inline content';
  }
  if (/<script\b/i.test(source.replace(/<script\b[^>]*>[\s\S]*?<\/script>/gi, ''))) return 'an unclosed <script>';
  // Raw (unescaped) output only for the layout's body and included templates, which escape their own values.
  for (const raw of source.match(/<%~[^%]*%>/g) ?? []) {
    if (raw === SANITIZED_HTML_OUTPUT && path.endsWith(SANITIZED_HTML_PARTIAL)) continue;
    if (!/^<%~\s*(it\.body|include\('\.\/[a-z/-]+', \{[^%]*\}\))\s*%>$/.test(raw)) return `raw output ${raw}`;
  }
  return null;
}

describe('templates and static files', () => {
  const templates = files(VIEWS_DIR).filter((f) => f.endsWith('.eta'));

  it('no template has inline scripts, inline styles, style= or on*= attributes, or unescaped output', () => {
    assert.ok(templates.length >= 10, 'the scan sees the templates');
    for (const path of templates) assert.equal(templateViolation(readFileSync(path, 'utf8'), path), null, path);
  });

  it('the sanitized-HTML exception holds for exactly one expression in exactly one partial', () => {
    const partial = join(VIEWS_DIR, SANITIZED_HTML_PARTIAL);
    assert.equal(templateViolation(readFileSync(partial, 'utf8'), partial), null);
    assert.equal((readFileSync(partial, 'utf8').match(/<%~/g) ?? []).length, 1, 'one raw output in the partial');
    assert.notEqual(templateViolation(SANITIZED_HTML_OUTPUT, join(VIEWS_DIR, 'post.eta')), null, 'elsewhere it is refused');
    assert.notEqual(templateViolation('<%~ it.body2 %>', partial), null, 'another expression in the partial is refused');
    // Only the post page and the editor include it, and they pass a post's stored html or the preview.
    const includers = templates.filter((f) => readFileSync(f, 'utf8').includes("include('./partials/sanitized-html'"));
    assert.deepEqual(includers.map((f) => f.slice(VIEWS_DIR.length + 1)).sort(), ['editor.eta', 'post.eta']);
    for (const f of includers) {
      for (const use of readFileSync(f, 'utf8').match(/include\('\.\/partials\/sanitized-html', \{[^}]*\}\)/g) ?? []) {
        assert.match(use, /\{ html: it\.(post\.html|preview) \}/, f);
      }
    }
  });

  it('the scan catches each forbidden construct', () => {
    const bad = [
      '<script>alert(1)</script>',
      '<script src="/x.js"></script>',
      '<div style="color:red">',
      '<style>p{}</style>',
      '<img src=x onerror="alert(1)">',
      '<a href="javascript:alert(1)">',
      '<%~ it.name %>',
      '<script src="/x.js" nonce="<%= it.nonce %>">alert(1)</script>',
    ];
    for (const source of bad) assert.notEqual(templateViolation(source), null, source);
    assert.equal(templateViolation('<script src="<%= it.asset(\'app.js\') %>" nonce="<%= it.nonce %>" defer></script>'), null);
  });

  it('the static script and stylesheet add no inline code and no event-handler attributes', () => {
    for (const path of files(STATIC_DIR)) {
      const source = readFileSync(path, 'utf8');
      assert.ok(!/\beval\(|new Function|innerHTML|setAttribute\(\s*['"]on/.test(source), path);
    }
  });
});
