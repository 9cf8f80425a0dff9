import Handlebars from 'handlebars';
import { TemplateError } from '../errors.js';
import { sampleEvent } from '../sample-event.js';
import { buildTemplateContext, type TemplateContext } from './context.js';
import { templateHelpers } from './helpers.js';
import { htmlToText } from './html-to-text.js';

/** The three parts of an email, as template sources. */
export interface EmailTemplateSources {
  subject: string;
  html: string;
  /** Plain-text body; when absent it is derived from `html`. */
  text?: string | undefined;
}

/** A rendered email. */
export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

/** An email whose three templates are compiled and ready to render. */
export interface CompiledEmailTemplate {
  render(context: TemplateContext): RenderedEmail;
}

type TemplateFn = (context: unknown) => string;

/** Options for {@link TemplateRenderer}. */
export interface TemplateRendererOptions {
  /** Handlebars partials by name, usable as `{{> name}}` in every template. @defaultValue `{}` */
  partials?: Record<string, string>;
  /**
   * How many compiled templates from events (subject/body overrides) to keep. Config templates
   * are held by their callers; event templates are arbitrary, so their cache must be bounded.
   * @defaultValue 500
   */
  eventTemplateCacheSize?: number;
}

// Raw output (`{{{x}}}`, `{{& x}}`) is meant as HTML, so it must go through html-to-text after
// rendering rather than be copied into a derived text template.
const RAW_OUTPUT = /\{\{\{|\{\{~?\s*&/;

/**
 * Compiles and renders Handlebars templates for emails.
 *
 * - subject: not HTML-escaped; CR/LF and other line breaks become spaces, so a value can never
 *   start a new header.
 * - html: every `{{value}}` is HTML-escaped.
 * - text: from its own template, or derived from the HTML template once at compile time by
 *   html-to-text (placeholders survive the conversion), falling back to converting each
 *   rendered HTML body when the template writes raw HTML.
 *
 * Syntax errors surface from `compile*`, not at send time.
 */
export class TemplateRenderer {
  private readonly htmlEnv = Handlebars.create();
  private readonly plainEnv = Handlebars.create();
  private readonly eventTemplates = new Map<string, CompiledEmailTemplate>();
  private readonly eventTemplateCacheSize: number;

  constructor(options: TemplateRendererOptions = {}) {
    this.eventTemplateCacheSize = options.eventTemplateCacheSize ?? 500;
    for (const env of [this.htmlEnv, this.plainEnv]) env.registerHelper(templateHelpers);
    for (const [name, source] of Object.entries(options.partials ?? {})) {
      const where = `partial '${name}'`;
      parse(this.htmlEnv, source, where);
      this.htmlEnv.registerPartial(name, source);
      // Subjects and derived text bodies use the partial in its text form.
      this.plainEnv.registerPartial(name, htmlToText(source));
    }
  }

  /**
   * Compiles the three templates of an email.
   * @param name where the templates come from, for error messages (e.g. a config key path).
   * @throws TemplateError when a template does not parse.
   */
  compileEmail(sources: EmailTemplateSources, name: string): CompiledEmailTemplate {
    const subject = this.compileOne(this.plainEnv, sources.subject, `${name}.subject`);
    const html = this.compileOne(this.htmlEnv, sources.html, `${name}.body`);
    const text =
      sources.text !== undefined
        ? this.compileOne(this.plainEnv, sources.text, `${name}.text`)
        : this.deriveText(sources.html, html);
    return {
      render: (context) => {
        try {
          return { subject: cleanSubject(subject(context)), html: html(context), text: text(context) };
        } catch (err) {
          throw new TemplateError(name, `failed to render: ${(err as Error).message}`, { cause: err });
        }
      },
    };
  }

  /**
   * Like {@link compileEmail}, for templates that arrive on events: compiled once per distinct
   * source and kept in a bounded least-recently-used cache.
   */
  compileEventEmail(sources: EmailTemplateSources, name: string): CompiledEmailTemplate {
    const key = `${sources.subject}\u0000${sources.html}\u0000${sources.text ?? ''}`;
    const cached = this.eventTemplates.get(key);
    if (cached) {
      this.eventTemplates.delete(key);
      this.eventTemplates.set(key, cached);
      return cached;
    }
    const compiled = this.compileEmail(sources, name);
    this.eventTemplates.set(key, compiled);
    if (this.eventTemplates.size > this.eventTemplateCacheSize) {
      const oldest = this.eventTemplates.keys().next().value;
      if (oldest !== undefined) this.eventTemplates.delete(oldest);
    }
    return compiled;
  }

  /**
   * Compiles one plain (not HTML-escaped) template, e.g. for a channel's JSON payload.
   * @throws TemplateError when it does not parse.
   */
  compilePlain(source: string, name: string): TemplateFn {
    const fn = this.compileOne(this.plainEnv, source, name);
    return (context) => {
      try {
        return fn(context);
      } catch (err) {
        throw new TemplateError(name, `failed to render: ${(err as Error).message}`, { cause: err });
      }
    };
  }

  /**
   * A text body from the HTML template. Converting the template once (placeholders survive
   * html-to-text) is much faster than converting every rendered body, but is only used when it
   * provably gives the same text: it must parse and match, on a complete sample event, what
   * converting the rendered HTML gives. Otherwise each rendered body is converted.
   */
  private deriveText(htmlSource: string, html: TemplateFn): TemplateFn {
    const convertRendered: TemplateFn = (context) => htmlToText(html(context));
    if (RAW_OUTPUT.test(htmlSource)) return convertRendered;
    let derived: TemplateFn;
    try {
      derived = this.compileOne(this.plainEnv, htmlToText(htmlSource), 'derived text');
      const sample = buildTemplateContext(sampleEvent());
      if (normalizeSpace(derived(sample)) !== normalizeSpace(convertRendered(sample))) return convertRendered;
    } catch {
      return convertRendered;
    }
    // html-to-text trims its output; so does the derived form.
    return (context) => derived(context).trim();
  }

  private compileOne(env: typeof Handlebars, source: string, where: string): TemplateFn {
    parse(env, source, where);
    // Handlebars compiles lazily on first call; the parse above has already caught syntax errors.
    const fn = env.compile(source, { noEscape: env === this.plainEnv });
    return fn as TemplateFn;
  }
}

function parse(env: typeof Handlebars, source: string, where: string): void {
  try {
    env.parse(source);
  } catch (err) {
    throw new TemplateError(where, `template does not parse: ${describeParseError((err as Error).message)}`, {
      cause: err,
    });
  }
}

/**
 * Handlebars' parse errors span four lines (position, excerpt, caret, a long list of expected
 * tokens); this keeps the line, the excerpt and what was found.
 */
function describeParseError(message: string): string {
  const lines = message.split('\n');
  const position = /^Parse error on (line \d+):$/.exec(lines[0] ?? '');
  if (!position || lines.length < 4) return lines.filter(Boolean).join(' ');
  const found = /got '([^']*)'\s*$/.exec(lines[3] ?? '')?.[1] ?? 'something unexpected';
  const what = found === 'EOF' ? 'unexpected end of template (unclosed block or mustache?)' : `unexpected ${found}`;
  return `${position[1]}: ${what} near '${(lines[1] ?? '').trim()}'`;
}

function normalizeSpace(text: string): string {
  return text.replace(/[ \t]+/g, ' ').trim();
}

/** A subject is one line: line breaks become single spaces, ends are trimmed. */
export function cleanSubject(subject: string): string {
  return subject.replace(/[\r\n\u0085\u2028\u2029\v\f]+/g, ' ').trim();
}
