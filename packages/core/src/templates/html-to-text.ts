import { compile, type HtmlToTextOptions } from 'html-to-text';

/**
 * One html-to-text configuration for all of Herald. Word wrapping is off (mail clients wrap)
 * and nothing is upper-cased, so a Handlebars placeholder survives the conversion unchanged:
 * that is what lets a text template be derived from an HTML template once, at compile time.
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

/** Converts an HTML document or fragment to readable plain text. */
export const htmlToText: (html: string) => string = compile(options);
