import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ALLOWED_TAGS, createContentRenderer, LINK_REL } from '../../src/modules/posts/rendering.js';
import { describeRemovals, domPurifyRemovals, unsafeHtmlFindings } from '../helpers/html-safety.js';

interface CorpusEntry {
  readonly category: string;
  readonly payload: string;
}

const corpus = JSON.parse(readFileSync(new URL('../fixtures/xss-payloads.json', import.meta.url), 'utf8')) as CorpusEntry[];
const renderer = createContentRenderer();

/** A post's HTML; an input here that renders too large fails the test. */
function postHtml(markdown: string): string {
  return renderer.post(markdown) ?? assert.fail(`${markdown.length} characters of Markdown rendered too large`);
}

/** Every way `html` fails the checks, prefixed with what produced it; empty when it passes. */
function problems(label: string, html: string): string[] {
  return [
    ...unsafeHtmlFindings(html).map((finding) => `${label}: ${finding}`),
    ...describeRemovals(domPurifyRemovals(html)).map((removal) => `${label}: DOMPurify removed ${removal}`),
  ];
}

function overCorpus(check: (entry: CorpusEntry) => string[]): string[] {
  return corpus.flatMap((entry) => check(entry).map((problem) => `[${entry.category}] ${JSON.stringify(entry.payload)} -> ${problem}`));
}

/** A realistic post section, repeated to reach a size. */
function realisticMarkdown(bytes: number): string {
  let markdown = '';
  for (let i = 0; markdown.length < bytes; i++) {
    markdown += `## Part ${i}\n\nSessions expire after **30 minutes** idle; see [OWASP](https://owasp.org/www-project-top-ten/) or [write to us](mailto:security@example.com).\n\n- one\n- two with \`code\`\n\n\`\`\`ts\nconst x = a < b && c > d;\n\`\`\`\n\n| a | b |\n|:-|-:|\n| 1 | 2 |\n\n![chart](https://example.com/chart-${i}.png "Chart")\n\n`;
  }
  return markdown.slice(0, bytes);
}

describe('XSS corpus through the content renderer', () => {
  it('holds at least 150 distinct payloads across the categories issue 7 names', () => {
    assert.ok(corpus.length >= 150, `only ${corpus.length} payloads`);
    assert.equal(new Set(corpus.map((e) => e.payload)).size, corpus.length, 'payloads must be distinct');
    const categories = new Set(corpus.map((e) => e.category));
    for (const category of ['script-tag', 'event-handler', 'javascript-url-html', 'javascript-url-markdown', 'svg-mathml', 'mutation-xss', 'base-meta-link', 'forms', 'css', 'frames-objects', 'dom-clobbering', 'unclosed-malformed', 'polyglot', 'xml-context']) {
      assert.ok(categories.has(category), `no ${category} payloads`);
    }
  });

  it('renders every payload as a post body with nothing unsafe and nothing for DOMPurify to remove', () => {
    assert.deepEqual(overCorpus(({ payload }) => problems('post', postHtml(payload))), []);
  });

  it('sanitizes every payload given directly as HTML with nothing unsafe and nothing for DOMPurify to remove', () => {
    assert.deepEqual(overCorpus(({ payload }) => problems('sanitize', renderer.sanitize(payload))), []);
  });

  it('renders every payload as a comment with nothing unsafe, nothing for DOMPurify to remove and no markup but <br>', () => {
    assert.deepEqual(overCorpus(({ payload }) => {
      const html = renderer.comment(payload);
      const markup = html.replaceAll('<br>', '');
      return [...problems('comment', html), ...(markup.includes('<') ? [`comment: markup left in ${JSON.stringify(html)}`] : [])];
    }), []);
  });

  it('gives post output that the sanitizer leaves unchanged (a stable form, no drift on a second pass)', () => {
    assert.deepEqual(overCorpus(({ payload }) => {
      const once = postHtml(payload);
      const again = renderer.sanitize(once);
      return again === once ? [] : [`changed on a second pass: ${JSON.stringify(once)} -> ${JSON.stringify(again)}`];
    }), []);
  });

  it('never lets a random mix of text, Markdown and dangerous fragments through, and stays stable', () => {
    const fragments = [
      '<script>', '</script>', '<img src=x onerror=alert(1)>', 'javascript:', 'jav&#x09;ascript:', '&#106;', '<a href="', '<a href=', '">', '\'', '"',
      '<svg>', '<math>', '<mtext>', '<mglyph>', '<style>', '</style>', '<noscript>', '</noscript>', '<template>', '<textarea>', '</textarea>', '<title>',
      '<!--', '-->', '<![CDATA[', ']]>', '<table>', '<p>', '</p>', '<iframe srcdoc="', ' onload=', ' style="', ' id=', ' name=', '<base href=', '<form>',
      '[x](', ')', '![y](', '<', '>', '\n', '\n\n', '\t', '\u0000', '`', '```\n', '> ', '- ', '| a |\n|-|\n', 'https://example.com/', 'data:text/html,', ' ',
    ];
    const piece = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...fragments), fc.constantFrom(...corpus.map((e) => e.payload)));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 16 }).map((parts) => parts.join('')), (input) => {
        const post = postHtml(input);
        const direct = renderer.sanitize(input);
        const comment = renderer.comment(input);
        assert.deepEqual([...problems('post', post), ...problems('sanitize', direct), ...problems('comment', comment)], []);
        assert.equal(renderer.sanitize(post), post, 'post output changed on a second pass');
        assert.equal(renderer.sanitize(direct), direct, 'sanitized output changed on a second pass');
      }),
      { numRuns: 400 },
    );
  });
});

describe('the checks the corpus relies on', () => {
  it('report what a broken sanitizer would let through', () => {
    // Without these the corpus tests could pass vacuously.
    for (const unsafe of [
      '<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '<a href="javascript:alert(1)">x</a>', '<a href=" jav&#x09;ascript:alert(1)">x</a>',
      '<form action="https://example.com"></form>', '<p style="color:red">x</p>', '<svg></svg>', '<math></math>', '<base href="https://evil.example/">',
      '<meta http-equiv="refresh" content="0">', '<iframe></iframe>', '<object></object>', '<embed>', '<style></style>', '<img srcset="javascript:alert(1) 1x">',
      '<button formaction="javascript:alert(1)">x</button>', '<p id="x">x</p>', '<a name="x">x</a>', '<a href="vbscript:msgbox(1)">x</a>',
      '<img src="data:image/svg+xml,x">', '<template></template>', '<link rel="stylesheet" href="https://example.com/x.css">',
    ]) {
      assert.notDeepEqual(unsafeHtmlFindings(unsafe), [], `no finding for ${unsafe}`);
    }
    assert.notDeepEqual(domPurifyRemovals('<img src=x onerror=alert(1)>'), []);
    assert.notDeepEqual(domPurifyRemovals('<a href="javascript:alert(1)">x</a>'), []);
  });

  it('find nothing in plain, safe content', () => {
    const safe = '<p><a href="https://example.com/" rel="nofollow">x</a> <a href="mailto:a@example.com">m</a> <img src="https://example.com/a.png" alt="a"></p>';
    assert.deepEqual(unsafeHtmlFindings(safe), []);
    assert.deepEqual(domPurifyRemovals(safe), []);
  });
});

describe('post rendering', () => {
  it('gives every link the rel that withholds ranking, opener and referrer', () => {
    assert.equal(
      postHtml('[Rampart](https://example.com/docs?a=1&b=2)'),
      `<p><a href="https://example.com/docs?a=1&amp;b=2" rel="${LINK_REL}">Rampart</a></p>\n`,
    );
    assert.equal(postHtml('<a href="https://example.com/" rel="opener" target="_blank">x</a>'), `<p><a href="https://example.com/" rel="${LINK_REL}">x</a></p>\n`);
  });

  it('keeps http, https and mailto links and drops any other target, keeping the text', () => {
    assert.equal(postHtml('[mail](mailto:security@example.com)'), `<p><a href="mailto:security@example.com" rel="${LINK_REL}">mail</a></p>\n`);
    assert.equal(postHtml('[plain](http://example.com/)'), `<p><a href="http://example.com/" rel="${LINK_REL}">plain</a></p>\n`);
    for (const href of ['/relative', '//evil.example/', '#top', 'ftp://example.com/', 'tel:+15550100', 'javascript:alert(1)', 'jav&#x09;ascript:alert(1)', '&#106;avascript:alert(1)', ' JaVaScRiPt:alert(1)', 'data:text/html,x']) {
      assert.equal(postHtml(`<a href="${href}">text</a>`), `<p><a rel="${LINK_REL}">text</a></p>\n`, href);
    }
  });

  it('writes out the URL it checked, as the URL parser normalizes it', () => {
    assert.equal(postHtml('<a href=" HTTPS://Example.COM/a b">x</a>'), `<p><a href="https://example.com/a%20b" rel="${LINK_REL}">x</a></p>\n`);
  });

  it('keeps an image only when its source is an absolute https URL', () => {
    assert.equal(postHtml('![A chart](https://example.com/chart.png "Chart")'), '<p><img src="https://example.com/chart.png" alt="A chart" title="Chart" /></p>\n');
    assert.equal(postHtml('![plain](http://example.com/chart.png)'), '<p></p>\n');
    assert.equal(postHtml('![data](data:image/png;base64,iVBORw0KGgo=)'), '<p></p>\n');
    // A tag alone on its line is an HTML block to markdown-it: no paragraph around it.
    assert.equal(postHtml('<img src="/local.png" alt="x">'), '');
    assert.equal(postHtml('<img src="//example.com/a.png">'), '');
    assert.equal(postHtml('<img alt="no source">'), '');
    assert.equal(postHtml('text <img src="javascript:alert(1)"> text'), '<p>text  text</p>\n');
  });

  it('keeps tables but drops the alignment style markdown-it writes', () => {
    const html = postHtml('| left | right |\n|:--|--:|\n| 1 | 2 |\n');
    assert.equal(html, '<table>\n<thead>\n<tr>\n<th>left</th>\n<th>right</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n<td>1</td>\n<td>2</td>\n</tr>\n</tbody>\n</table>\n');
  });

  it('keeps headings, emphasis, lists, quotes, rules and code with its language class only', () => {
    assert.equal(postHtml('# One\n\n###### Six'), '<h1>One</h1>\n<h6>Six</h6>\n');
    assert.equal(postHtml('*em* **strong** ~~gone~~ <del>del</del>'), '<p><em>em</em> <strong>strong</strong> <s>gone</s> <del>del</del></p>\n');
    assert.equal(postHtml('3. three\n4. four'), '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>\n');
    assert.equal(postHtml('- a\n- b'), '<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n');
    assert.equal(postHtml('> quoted\n\n---'), '<blockquote>\n<p>quoted</p>\n</blockquote>\n<hr />\n');
    assert.equal(postHtml('```ts\nif (a < b) {}\n```'), '<pre><code class="language-ts">if (a &lt; b) {}\n</code></pre>\n');
    assert.equal(postHtml('<code class="language-js highlight">x</code>'), '<p><code class="language-js">x</code></p>\n');
    // Found by the property test: a fence language that could close an XML comment is dropped.
    assert.equal(postHtml('```--->\nx\n```'), '<pre><code>x\n</code></pre>\n');
    assert.equal(postHtml('<code class="language-]]>x">x</code>'), '<p><code>x</code></p>\n');
    assert.equal(postHtml('line  \nbreak'), '<p>line<br />\nbreak</p>\n');
  });

  it('drops a title, alt, link or code language that would close a comment, CDATA section, style or title', () => {
    assert.equal(postHtml('[x](https://example.com "a --> b")'), `<p><a href="https://example.com/" rel="${LINK_REL}">x</a></p>\n`);
    assert.equal(postHtml('![</title>](https://example.com/a.png "]]>")'), '<p><img src="https://example.com/a.png" /></p>\n');
    assert.equal(postHtml('<a href="mailto:--></style>@example.com">m</a>'), `<p><a rel="${LINK_REL}">m</a></p>\n`);
    assert.equal(postHtml('```ts]]>\nx\n```'), '<pre><code>x\n</code></pre>\n');
    assert.equal(postHtml('[x](https://example.com "a -> b [c]")'), `<p><a href="https://example.com/" title="a -&gt; b [c]" rel="${LINK_REL}">x</a></p>\n`);
  });

  it('drops a non-numeric list start and the id, name and style attributes', () => {
    assert.equal(postHtml('<ol start="1;x" id="config"><li name="n" style="color:red">x</li></ol>'), '<ol><li>x</li></ol>');
  });

  it('drops disallowed elements but keeps their text, except where the text is not text to a browser', () => {
    assert.equal(postHtml('<div><span>kept</span></div>'), 'kept');
    assert.equal(postHtml('a <script>alert(1)</script><style>p{}</style><textarea>t</textarea><title>x</title> b'), '<p>a  b</p>\n');
  });

  it('renders a 64 KiB body', () => {
    const markdown = realisticMarkdown(64 * 1024);
    const html = postHtml(markdown);
    assert.equal(markdown.length, 64 * 1024);
    assert.ok(html.length > markdown.length / 2);
    assert.deepEqual(unsafeHtmlFindings(html), []);
    assert.equal(renderer.sanitize(html), html);
  });

  it('returns null, instead of HTML, for Markdown that would render to more than a post may hold', () => {
    assert.equal(renderer.post(`[a]: https://example.com/${'x'.repeat(1000)}\n\n${'[a] '.repeat(15_000)}`), null);
  });

  it('allows only the tags it lists', () => {
    const html = postHtml(realisticMarkdown(4 * 1024));
    const tags = new Set([...html.matchAll(/<([a-z0-9]+)/g)].map((m) => m[1]));
    for (const tag of tags) assert.ok((ALLOWED_TAGS as readonly string[]).includes(tag!), tag);
  });
});

describe('comment rendering', () => {
  it('keeps line breaks as <br> whatever their form', () => {
    assert.equal(renderer.comment('one\ntwo\r\nthree\rfour'), 'one<br>two<br>three<br>four');
  });

  it('shows markup and Markdown as the text that was typed', () => {
    assert.equal(renderer.comment('<b>bold</b> **not bold** [x](https://example.com)'), '&lt;b&gt;bold&lt;/b&gt; **not bold** [x](https://example.com)');
    assert.equal(renderer.comment('"quotes" & \'apostrophes\''), '&quot;quotes&quot; &amp; &#39;apostrophes&#39;');
    assert.equal(renderer.comment('&lt;already escaped&gt;'), '&amp;lt;already escaped&amp;gt;');
  });
});
