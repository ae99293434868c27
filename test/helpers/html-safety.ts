import createDOMPurify from 'dompurify';
import { JSDOM } from 'jsdom';

/**
 * Independent checks on HTML that Rampart serves as user content: the page's view of it, not
 * the sanitizer's. The HTML is parsed as a browser parses `body.innerHTML = html` (jsdom, no
 * scripts run, no resources loaded), so parser quirks (foster parenting, foreign content,
 * raw-text elements) count the way a browser would count them.
 */

// One window per test file (node --test runs each file in its own process).
const { window } = new JSDOM('<!DOCTYPE html><html><head></head><body></body></html>', { url: 'https://rampart.test/' });
const purify = createDOMPurify(window);

const BASE = 'https://rampart.test/';
const SAFE_SCHEMES = new Set(['http:', 'https:', 'mailto:']);

/** Elements that never belong in user content, whatever their attributes. */
const FORBIDDEN_ELEMENTS = new Set([
  'script', 'base', 'meta', 'form', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'style', 'link',
  'svg', 'math', 'template', 'input', 'button', 'textarea', 'select', 'portal', 'noscript',
]);

/** Attributes a browser resolves or fetches as a URL (single URL each). */
const URL_ATTRIBUTES = new Set([
  'href', 'src', 'action', 'formaction', 'xlink:href', 'poster', 'background', 'data', 'codebase', 'cite',
  'longdesc', 'lowsrc', 'dynsrc', 'usemap', 'classid', 'archive', 'profile', 'manifest', 'icon', 'itemtype', 'itemid',
]);
/** Attributes holding several URLs: `ping` is space-separated, `srcset` a comma-separated list of candidates. */
const URL_LIST_ATTRIBUTES = new Set(['ping', 'srcset', 'imagesrcset']);

const SVG_NAMESPACE = 'http://www.w3.org/2000/svg';
const MATHML_NAMESPACE = 'http://www.w3.org/1998/Math/MathML';

function urlFinding(where: string, value: string): string | null {
  let url: URL;
  try {
    url = new URL(value, BASE);
  } catch {
    return `${where}: URL that does not parse: ${JSON.stringify(value)}`;
  }
  return SAFE_SCHEMES.has(url.protocol) ? null : `${where}: URL with scheme ${url.protocol} (${JSON.stringify(value)})`;
}

function urlsOf(name: string, value: string): string[] {
  if (name === 'ping') return value.split(/[\t\n\f\r ]+/).filter((u) => u !== '');
  // A srcset candidate is a URL optionally followed by a descriptor.
  return value.split(',').map((candidate) => candidate.trim().split(/[\t\n\f\r ]+/)[0] ?? '').filter((u) => u !== '');
}

function attributeFindings(element: Element, where: string): string[] {
  const findings: string[] = [];
  for (const attribute of Array.from(element.attributes)) {
    const name = attribute.name.toLowerCase();
    const at = `${where} [${attribute.name}]`;
    if (name.startsWith('on')) findings.push(`${at}: event handler attribute`);
    if (name === 'style') findings.push(`${at}: style attribute`);
    if (name === 'id' || name === 'name') findings.push(`${at}: ${name} attribute (DOM clobbering)`);
    if (name === 'srcdoc') findings.push(`${at}: srcdoc attribute`);
    if (URL_ATTRIBUTES.has(name)) {
      const finding = urlFinding(at, attribute.value);
      if (finding !== null) findings.push(finding);
    }
    if (URL_LIST_ATTRIBUTES.has(name)) {
      for (const url of urlsOf(name, attribute.value)) {
        const finding = urlFinding(at, url);
        if (finding !== null) findings.push(finding);
      }
    }
  }
  return findings;
}

/**
 * What makes `html` unsafe to insert into a page: script, base, meta, form, iframe, object,
 * embed, style, link, svg, math, template (and other active or form) elements; `on*`, `style`,
 * `id`, `name` and `srcdoc` attributes; URL attributes (href, src, action, formaction,
 * xlink:href, srcset, poster, background, data, codebase, cite, ping, ...) whose scheme, once
 * resolved against `https://rampart.test/`, is not http, https or mailto. Empty when none.
 */
export function unsafeHtmlFindings(html: string): string[] {
  const { body } = window.document;
  body.innerHTML = html;
  const findings: string[] = [];
  for (const element of Array.from(body.querySelectorAll('*'))) {
    const tag = element.localName;
    const where = `<${tag}>`;
    if (FORBIDDEN_ELEMENTS.has(tag)) findings.push(`${where}: forbidden element`);
    if (element.namespaceURI === SVG_NAMESPACE || element.namespaceURI === MATHML_NAMESPACE) {
      findings.push(`${where}: element in the ${element.namespaceURI === SVG_NAMESPACE ? 'SVG' : 'MathML'} namespace`);
    }
    findings.push(...attributeFindings(element, where));
  }
  body.innerHTML = '';
  return findings;
}

/**
 * DOMPurify's second opinion (default configuration, on jsdom): what it would remove from
 * `html`. Issue 7's bar is that it finds nothing to remove in Rampart's output.
 */
export function domPurifyRemovals(html: string): unknown[] {
  purify.sanitize(html);
  return [...purify.removed];
}

/** A readable line per DOMPurify removal, for assertion messages. */
export function describeRemovals(removals: readonly unknown[]): string[] {
  return removals.map((entry) => {
    const removed = entry as { element?: Element | null; attribute?: Attr | null; from?: Element };
    if (removed.attribute !== undefined && removed.attribute !== null) {
      return `attribute ${removed.attribute.name}=${JSON.stringify(removed.attribute.value)} from <${removed.from?.localName ?? '?'}>`;
    }
    const element = removed.element;
    if (element === undefined || element === null) return 'unknown removal';
    return element.nodeType === 1 ? `element <${(element).localName}>` : `node ${JSON.stringify(element.textContent)}`;
  });
}
