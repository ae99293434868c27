import MarkdownIt from 'markdown-it';
import type Token from 'markdown-it/lib/token.mjs';
import sanitizeHtml, { type IFrame, type IOptions, type Attributes } from 'sanitize-html';

/**
 * The HTML a post body may keep after sanitizing. Anything else is removed (its text kept, see
 * `DISCARDED_CONTENT_TAGS` for the exceptions): no SVG, MathML, style, form, input, button,
 * iframe, object, embed, base, meta or link elements can survive.
 */
export const ALLOWED_TAGS = Object.freeze([
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
  'p', 'br', 'hr', 'blockquote',
  'em', 'strong', 'del', 's',
  'ul', 'ol', 'li',
  'pre', 'code',
  'a',
  'table', 'thead', 'tbody', 'tr', 'th', 'td',
  'img',
] as const);

/**
 * Attributes each tag may keep. No `style`, no `on*`, and no `id` or `name` (they would let a
 * post clobber globals of the page's own scripts). Table cells lose markdown-it's
 * `style="text-align:…"`.
 */
export const ALLOWED_ATTRIBUTES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  a: Object.freeze(['href', 'title', 'rel']),
  img: Object.freeze(['src', 'alt', 'title']),
  ol: Object.freeze(['start']),
  code: Object.freeze(['class']),
});

/** The only class a post may carry: markdown-it's fence language on `code` (`language-ts`, `language-c++`). */
export const ALLOWED_CODE_CLASS = /^language-[\w+#.-]{1,40}$/;

/** URL schemes a link may point to (absolute URLs only: relative and `//host` links lose their href). */
export const ALLOWED_LINK_SCHEMES = Object.freeze(['http', 'https', 'mailto'] as const);

/** Images are kept only with an absolute `https:` source; any other image is removed. */
export const ALLOWED_IMAGE_SCHEMES = Object.freeze(['https'] as const);

/** Every link gets this, so posts pass no ranking, no opener and no referrer. */
export const LINK_REL = 'nofollow ugc noopener noreferrer';

/**
 * Disallowed elements whose content is dropped with them rather than kept as text: browsers
 * parse their content as raw text or as inert markup, so keeping it would surface text the
 * author never showed (or a second chance for a parser differential).
 */
export const DISCARDED_CONTENT_TAGS = Object.freeze([
  'script', 'style', 'textarea', 'noscript', 'title', 'xmp', 'iframe', 'noembed', 'noframes', 'plaintext', 'template', 'option',
] as const);

/**
 * The most HTML a post may render to. Markdown can expand: one reference definition with a
 * long URL, used thousands of times (`[a] [a] [a] …`), would turn 64 KiB of source into
 * hundreds of MiB of links and seconds of blocked event loop. Ordinary prose stays near its
 * source size, dense formatting within a few times it.
 */
export const POST_HTML_MAX_BYTES = 256 * 1024;
// Per token, the markup around its content (`<li>`, `</em>`): a rough, generous average.
const TOKEN_MARKUP_BYTES = 8;

/**
 * About how much HTML the tokens render to, computed before rendering anything: markup per
 * token, attribute values (where a reference link repeats its URL), and text once (an inline
 * token's text is counted through its children). It only has to tell ordinary posts from
 * explosive ones; the rendered size is checked exactly afterwards.
 */
function renderedSizeEstimate(tokens: readonly Token[]): number {
  let size = 0;
  for (const token of tokens) {
    // A link also gets the rel attribute the sanitizer adds.
    size += TOKEN_MARKUP_BYTES + (token.type === 'link_open' ? LINK_REL.length + 8 : 0);
    for (const [, value] of token.attrs ?? []) size += value.length;
    size += token.children === null ? token.content.length : renderedSizeEstimate(token.children);
  }
  return size;
}

/** Renders user content to HTML that is safe to insert into a page as is. */
export interface ContentRenderer {
  /**
   * Markdown (raw HTML allowed in it) to sanitized HTML, for a post body. Run on write. Null
   * when the HTML would exceed {@link POST_HTML_MAX_BYTES}, checked on the parsed tokens before
   * any HTML is built (the caller refuses the post with `POST_ERR_TOO_LARGE_RENDERED`).
   */
  post(markdown: string): string | null;
  /** Plain text to escaped HTML, line breaks as `<br>`; never parsed as HTML or Markdown. */
  comment(text: string): string;
  /** The sanitizing step of `post` alone, for HTML that is already rendered. Idempotent. */
  sanitize(html: string): string;
}

const ORDERED_LIST_START = /^-?\d{1,9}$/;
// Closers of comments and CDATA sections, and anything that looks like a tag (`<p`, `</x`,
// `<!`, `<?`). Harmless inside an HTML attribute value, but a value holding one turns into
// markup if the stored HTML is ever parsed in another context (an XHTML feed, inline SVG).
// DOMPurify drops such attributes too (SAFE_FOR_XML, which names more closers in each release);
// no genuine link, title or alt needs them.
const MARKUP_BREAKOUT = /(?:--!?|\])>|<[/!?\w]/i;
const LINE_BREAK = /\r\n|\r|\n/g;
const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const HTML_SPECIAL = /[&<>"']/g;

/**
 * The URL a browser would follow, if it is absolute and its scheme is allowed; otherwise null.
 * `value` is the attribute as the HTML parser decoded it (entities already resolved), and the
 * WHATWG parser strips the leading spaces, control characters, tabs and newlines that browsers
 * ignore, so `jav&#x09;ascript:` or ` JaVaScRiPt:` come out as `javascript:` and are refused.
 */
function allowedUrl(value: string | undefined, schemes: readonly string[]): string | null {
  if (value === undefined) return null;
  let url: URL;
  try {
    // No base: a relative or protocol-relative URL throws, and is refused.
    url = new URL(value);
  } catch {
    return null;
  }
  // http(s) URLs come out with `<` and `>` percent-encoded; a mailto path does not.
  return schemes.includes(url.protocol.slice(0, -1)) && !MARKUP_BREAKOUT.test(url.href) ? url.href : null;
}

/** The named free-text attributes of `attribs` (title, alt) whose value cannot break out of markup. */
function textAttributes(attribs: Attributes, names: readonly string[]): Attributes {
  const kept: Attributes = {};
  for (const name of names) {
    const value = attribs[name];
    if (value !== undefined && !MARKUP_BREAKOUT.test(value)) kept[name] = value;
  }
  return kept;
}

function sanitizerOptions(onDisallowedTag: () => void): IOptions {
  const allowed = new Set<string>(ALLOWED_TAGS);
  return {
    allowedTags: [...ALLOWED_TAGS],
    allowedAttributes: Object.fromEntries(Object.entries(ALLOWED_ATTRIBUTES).map(([tag, names]) => [tag, [...names]])),
    allowedClasses: { code: [ALLOWED_CODE_CLASS] },
    allowedSchemes: [...ALLOWED_LINK_SCHEMES],
    allowedSchemesByTag: { img: [...ALLOWED_IMAGE_SCHEMES] },
    allowProtocolRelative: false,
    allowVulnerableTags: false,
    disallowedTagsMode: 'discard',
    nonTextTags: [...DISCARDED_CONTENT_TAGS],
    // No style attribute is allowed, so its CSS is never parsed either.
    parseStyleAttributes: false,
    enforceHtmlBoundary: false,
    transformTags: {
      // The sanitizer's own scheme check passes relative URLs; posts keep absolute ones only,
      // and the href written out is the one that was checked, normalized by the URL parser.
      // Each transform returns only the attributes its tag may keep, already checked.
      a: (tagName, attribs) => {
        const href = allowedUrl(attribs.href, ALLOWED_LINK_SCHEMES);
        return { tagName, attribs: { ...(href === null ? {} : { href }), ...textAttributes(attribs, ['title']), rel: LINK_REL } };
      },
      img: (tagName, attribs) => {
        const src = allowedUrl(attribs.src, ALLOWED_IMAGE_SCHEMES);
        return { tagName, attribs: { ...(src === null ? {} : { src }), ...textAttributes(attribs, ['alt', 'title']) } };
      },
      ol: (tagName, attribs) => {
        const start = attribs.start;
        const kept: Attributes = start !== undefined && ORDERED_LIST_START.test(start) ? { start } : {};
        return { tagName, attribs: kept };
      },
    },
    // An image without an allowed source is removed, not left as an empty box.
    exclusiveFilter: (frame: IFrame) => frame.tag === 'img' && frame.attribs.src === undefined,
    onOpenTag: (name) => {
      if (!allowed.has(name)) onDisallowedTag();
    },
  };
}

function escapeHtml(text: string): string {
  return text.replace(HTML_SPECIAL, (c) => HTML_ESCAPES[c] ?? c);
}

/**
 * Builds the renderer once: markdown-it with raw HTML on (the sanitizer, not the Markdown
 * parser, is the defence, so both paths meet the same allowlist), no linkify, no typographer;
 * sanitize-html with the allowlist above.
 */
export function createContentRenderer(): ContentRenderer {
  const markdown = new MarkdownIt({ html: true, linkify: false, typographer: false });
  // Counted by the sanitizer's hook during a pass; sanitizeHtml is synchronous, so one
  // counter per renderer is enough.
  let discarded = 0;
  const options = sanitizerOptions(() => {
    discarded++;
  });
  const sanitize = (html: string): string => {
    discarded = 0;
    const once = sanitizeHtml(html, options);
    // htmlparser2 closes a <p> only when the new block opens directly inside it, so dropping a
    // wrapper (`<p><svg><table>`) can leave a nesting that a browser, or the sanitizer itself,
    // parses differently (`<p></p><table>`). A second pass over the output settles the tree
    // into the form every later parse agrees on; Markdown with only allowed tags needs none.
    return discarded > 0 ? sanitizeHtml(once, options) : once;
  };
  return {
    post: (source) => {
      const env = {};
      const tokens = markdown.parse(source, env);
      // Far over the limit: refused before building megabytes of HTML to measure them.
      if (renderedSizeEstimate(tokens) > 4 * POST_HTML_MAX_BYTES) return null;
      const html = sanitize(markdown.renderer.render(tokens, markdown.options, env));
      if (Buffer.byteLength(html, 'utf8') > POST_HTML_MAX_BYTES) return null;
      return html;
    },
    comment: (text) => escapeHtml(text).replace(LINE_BREAK, '<br>'),
    sanitize,
  };
}
