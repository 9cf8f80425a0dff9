import { createRequire } from 'node:module';
import type { HtmlToTextOptions } from 'html-to-text';

/**
 * One html-to-text configuration for all of Herald. Word wrapping is off (mail clients wrap)
 * and nothing is upper-cased, so a Handlebars placeholder survives the conversion unchanged:
 * that is what lets a text template be derived from an HTML template once, not per email.
 */
const options: HtmlToTextOptions = {
  wordwrap: false,
  selectors: [
    ...(['h1', 'h2', 'h3', 'h4', 'h5', 'h6'] as const).map((selector) => ({
      selector,
      options: { uppercase: false },
    })),
    { selector: 'a', options: { hideLinkHrefIfSameAsText: true } },
    { selector: 'img', format: 'skip' },
    { selector: 'table', options: { uppercaseHeaderCells: false } },
  ],
};

const require = createRequire(import.meta.url);
let convert: ((html: string) => string) | undefined;

/**
 * Loads and compiles html-to-text, once: the first text body rendered does it, so a process
 * that renders none (`herald validate`, an idle processor) never loads the library and its
 * HTML parser. Conversion is synchronous (templates render synchronously), so this is a
 * `require` of the package's CommonJS build rather than an `import()`.
 */
export function loadHtmlToText(): (html: string) => string {
  convert ??= (require('html-to-text') as typeof import('html-to-text')).compile(options);
  return convert;
}

/** Converts an HTML document or fragment to readable plain text. */
export function htmlToText(html: string): string {
  return loadHtmlToText()(html);
}
