import Handlebars from 'handlebars';
import { TemplateError } from '../contract/errors.js';
import type { ExecutionEvent } from '../contract/event.js';
import { sampleTemplateContext, type TemplateContext } from './context.js';
import { type EventEmailSources, EventTemplateWorker } from './event-template-worker.js';
import { BUILTIN_HELPERS, templateHelpers, UNAVAILABLE_HELPERS } from './helpers.js';
import { htmlToText } from './html-to-text.js';

/** The three parts of an email, as template sources. */
/** How long templates carried on one event may render, in total, before the event is refused. */
export const DEFAULT_EVENT_TEMPLATE_BUDGET_MS = 1_000;

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

/** A compiled template: context in, text out. */
export type TemplateFn = (context: unknown) => string;

/** Options for {@link TemplateRenderer}. */
export interface TemplateRendererOptions {
  /** Handlebars partials by name, usable as `{{> name}}` in every template. @defaultValue `{}` */
  partials?: Record<string, string>;
  /**
   * How many templates compiled by {@link TemplateRenderer.compileCachedEmail} to keep (rule
   * overrides here, event templates in the worker). Their sources are arbitrary, so the cache
   * must be bounded.
   * @defaultValue 500
   */
  eventTemplateCacheSize?: number;
  /**
   * Longest the templates of one email carried on an event may take to compile and render
   * (see {@link TemplateRenderer.renderEventEmail}).
   * @defaultValue {@link DEFAULT_EVENT_TEMPLATE_BUDGET_MS}
   */
  eventTemplateBudgetMs?: number;
}

/** Makes the text body of one email; `renderedHtml` is that email's HTML body, already rendered. */
type TextFn = (context: unknown, renderedHtml: string) => string;

/** Escaping mode of a template: HTML bodies escape values; subjects and text bodies do not. */
type Mode = 'html' | 'plain';

// Handlebars counts its own `log` as known unless told otherwise; a template calling it is
// refused before it gets here, and this keeps compiled code from ever calling it.
const KNOWN_HELPERS: Record<string, boolean> = {
  ...Object.fromEntries(Object.keys(templateHelpers).map((name) => [name, true])),
  ...Object.fromEntries(UNAVAILABLE_HELPERS.map((name) => [name, false])),
};

/**
 * `{{ url }}` → `{{url}}` for a placeholder that is one name. The same template to Handlebars,
 * but html-to-text sees one word instead of three: `<a href="{{ url }}">{{ url }}</a>` then
 * converts like the rendered link does (the href is not repeated when it equals the text),
 * so the text template can be derived once instead of converting every rendered body.
 */
function compactPlaceholders(source: string): string {
  return source.replace(/\{\{(~?)\s*([\w.@/-]+)\s*(~?)\}\}/g, '{{$1$2$3}}');
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
 * - text: from its own template, or derived from the HTML template once, by the first render,
 *   with html-to-text (placeholders survive the conversion), falling back to converting each
 *   rendered HTML body when the template writes raw HTML. html-to-text is loaded then, not
 *   when templates are compiled.
 *
 * Syntax errors, unknown helpers and missing partials surface from `compile*`, not at send time.
 */
export class TemplateRenderer {
  /** Partials as written (HTML), for HTML bodies. */
  private readonly partials: Record<string, string> = {};
  /** The same partials as text, for subjects and derived text bodies: converted when first needed. */
  private plainPartials: Record<string, string> | undefined;
  private readonly eventTemplateBudgetMs: number;
  /** Started on the first template carried on an event, not before. */
  private eventTemplateWorker: EventTemplateWorker | undefined;
  /** Helpers used by any partial: a template that includes partials gets these too. */
  private readonly partialHelpers = new Set<string>();
  private readonly environments = new Map<string, typeof Handlebars>();
  private readonly eventTemplates = new Map<string, CompiledEmailTemplate>();
  private readonly eventTemplateCacheSize: number;
  /** Plain templates from the config (channel payloads), by name and source: compiled once. */
  private readonly plainTemplates = new Map<string, TemplateFn>();
  /** Holders of the event-template worker; it stops when the last one lets go. */
  private holders = 0;

  constructor(options: TemplateRendererOptions = {}) {
    this.eventTemplateCacheSize = options.eventTemplateCacheSize ?? 500;
    this.eventTemplateBudgetMs = options.eventTemplateBudgetMs ?? DEFAULT_EVENT_TEMPLATE_BUDGET_MS;
    for (const [name, source] of Object.entries(options.partials ?? {})) {
      const ast = parse(source, `partial '${name}'`);
      for (const helper of helpersUsedBy(ast)) this.partialHelpers.add(helper);
      this.partials[name] = source;
    }
  }

  /**
   * Compiles the three templates of an email.
   * @param name where the templates come from, for error messages (e.g. a config key path).
   * @throws TemplateError when a template does not parse, or names an unknown helper or partial.
   */
  compileEmail(sources: EmailTemplateSources, name: string): CompiledEmailTemplate {
    const subject = this.compile('plain', sources.subject, `${name}.subject`);
    const html = this.compile('html', sources.html, `${name}.body`);
    const text: TextFn =
      sources.text !== undefined
        ? this.compile('plain', sources.text, `${name}.text`)
        : this.deriveTextOnFirstRender(sources.html, html);
    return {
      render: (context) => {
        try {
          const renderedHtml = html(context);
          return { subject: cleanSubject(subject(context)), html: renderedHtml, text: text(context, renderedHtml) };
        } catch (err) {
          throw new TemplateError(name, `failed to render: ${(err as Error).message}`, { cause: err });
        }
      },
    };
  }

  /**
   * Like {@link compileEmail}, for templates named at run time (a rule's subject and body):
   * compiled once per distinct source and kept in a bounded least-recently-used cache. These
   * render on the caller's thread: never use it for templates carried on events, see
   * {@link renderEventEmail}.
   */
  compileCachedEmail(sources: EmailTemplateSources, name: string): CompiledEmailTemplate {
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
   * Renders an email whose templates were (partly) carried on an event, in a worker thread
   * under a time budget, so that no template can block the caller's event loop: the parts the
   * event wrote must obey {@link EVENT_TEMPLATE_LIMITS}, and compiling plus rendering may take at
   * most `eventTemplateBudgetMs`. The worker starts with the first call; {@link close} stops it.
   * @param options.signal withdraws the request while it waits for the worker.
   * @throws TemplateError (rejects) when a template is refused, does not compile or render, or
   * runs over its budget; HeraldError when the worker cannot be used (transient).
   */
  renderEventEmail(
    sources: EventEmailSources,
    name: string,
    event: ExecutionEvent,
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<RenderedEmail> {
    this.eventTemplateWorker ??= new EventTemplateWorker({
      partials: this.partials,
      budgetMs: this.eventTemplateBudgetMs,
    });
    return this.eventTemplateWorker.render(sources, name, event, options);
  }

  /** Worker threads started for templates carried on events (none until the first one). */
  get eventTemplateThreadsStarted(): number {
    return this.eventTemplateWorker?.threadsStarted ?? 0;
  }

  /**
   * Holds the renderer for templates carried on events: one renderer is shared by everything
   * built from a config, so its worker thread stops when the last holder closes its hold, not
   * when the first one does (which would fail the others' renders).
   */
  hold(): { close(): Promise<void> } {
    this.holders++;
    let released = false;
    return {
      close: async () => {
        if (released) return;
        released = true;
        this.holders--;
        if (this.holders === 0) await this.close();
      },
    };
  }

  /** Stops the event-template worker, if one was started. Config templates keep working. */
  async close(): Promise<void> {
    const worker = this.eventTemplateWorker;
    this.eventTemplateWorker = undefined;
    await worker?.close();
  }

  /**
   * Compiles one plain (not HTML-escaped) template from the config, e.g. a subject or a JSON
   * payload; the same name and source compile once (the loader checks what channels then use).
   * Rendering errors are thrown as TemplateError. Never for templates carried on events: see
   * {@link renderEventEmail}.
   * @throws TemplateError when it does not parse.
   */
  compilePlain(source: string, name: string): TemplateFn {
    const key = `${name}\u0000${source}`;
    const known = this.plainTemplates.get(key);
    if (known) return known;
    const fn = this.compile('plain', source, name);
    const render: TemplateFn = (context) => {
      try {
        return fn(context);
      } catch (err) {
        throw new TemplateError(name, `failed to render: ${(err as Error).message}`, { cause: err });
      }
    };
    this.plainTemplates.set(key, render);
    return render;
  }

  /**
   * {@link deriveText}, done when the first email is rendered rather than when it is compiled:
   * compiling (loading a config, `herald validate`) then never needs html-to-text.
   */
  private deriveTextOnFirstRender(htmlSource: string, html: TemplateFn): TextFn {
    let derived: TextFn | undefined;
    return (context, renderedHtml) => {
      derived ??= this.deriveText(htmlSource, html);
      return derived(context, renderedHtml);
    };
  }

  /**
   * A text body from the HTML template. Converting the template once (placeholders survive
   * html-to-text) is much faster than converting every rendered body, but is only used when it
   * provably gives the same text: it must parse and match, on a complete sample event, what
   * converting the rendered HTML gives. Otherwise the HTML rendered for the same email is
   * converted (never rendered a second time: an expensive template would cost twice).
   */
  private deriveText(htmlSource: string, html: TemplateFn): TextFn {
    const convertRendered: TextFn = (_context, renderedHtml) => htmlToText(renderedHtml);
    if (RAW_OUTPUT.test(htmlSource)) return convertRendered;
    let derived: TemplateFn;
    try {
      derived = this.compile('plain', htmlToText(compactPlaceholders(htmlSource)), 'derived text');
      const sample = sampleTemplateContext();
      if (normalizeSpace(derived(sample)) !== normalizeSpace(htmlToText(html(sample)))) return convertRendered;
    } catch {
      return convertRendered;
    }
    // html-to-text trims its output; so does the derived form.
    return (context) => derived(context).trim();
  }

  private compile(mode: Mode, source: string, where: string): TemplateFn {
    const ast = parse(source, where);
    const used = helpersUsedBy(ast);
    const unavailable = UNAVAILABLE_HELPERS.find((name) => used.has(name));
    if (unavailable !== undefined) {
      throw new TemplateError(
        where,
        `{{${unavailable}}} is not available in Herald's templates: a template must not write to Herald's logs`,
      );
    }
    const withPartials = usesPartials(ast);
    if (withPartials) for (const helper of this.partialHelpers) used.add(helper);
    // The source, not the tree read above: a compiled template keeps what it was compiled from
    // for as long as it lives, and a tree (with every node's location) is many times the size
    // of its source. Templates are cached (rules', events'), so parsing twice costs less.
    const fn = this.environment(mode, used, withPartials).compile(source, {
      noEscape: mode === 'plain',
      // Every helper is known up front, so `{{ name }}` compiles to a plain property read
      // instead of a run-time "is this a helper?" check.
      knownHelpers: KNOWN_HELPERS,
      knownHelpersOnly: true,
    }) as TemplateFn;
    // Handlebars compiles on first use; doing that now, on a complete sample, turns an unknown
    // helper or a missing partial into an error here rather than at send time.
    try {
      fn(sampleTemplateContext());
    } catch (err) {
      throw new TemplateError(where, (err as Error).message, { cause: err });
    }
    return fn;
  }

  /**
   * Handlebars copies every registered helper and partial into each call of a top-level
   * template, so each template gets an environment holding only the helpers it uses:
   * rendering is then about twice as fast as with one shared environment. Partials are
   * registered only for templates that include some (their text forms are then converted).
   */
  private environment(mode: Mode, helpers: Set<string>, withPartials: boolean): typeof Handlebars {
    const names = [...helpers].sort();
    const key = `${mode}:${withPartials ? 'partials' : 'none'}:${names.join(',')}`;
    let env = this.environments.get(key);
    if (!env) {
      env = Handlebars.create();
      // Handlebars' own helpers are kept only where the template uses them (the two "missing"
      // handlers are always needed by compiled code).
      for (const name of BUILTIN_HELPERS) if (!helpers.has(name)) env.unregisterHelper(name);
      for (const name of UNAVAILABLE_HELPERS) env.unregisterHelper(name);
      for (const name of names) {
        const helper = templateHelpers[name];
        if (helper) env.registerHelper(name, helper);
      }
      if (withPartials) env.registerPartial(mode === 'html' ? this.partials : this.partialsAsText());
      this.environments.set(key, env);
    }
    return env;
  }

  /** The partials in text form, for subjects and derived text bodies. */
  private partialsAsText(): Record<string, string> {
    this.plainPartials ??= Object.fromEntries(
      Object.entries(this.partials).map(([name, source]) => [name, htmlToText(source)]),
    );
    return this.plainPartials;
  }
}

function parse(source: string, where: string): hbs.AST.Program {
  try {
    return Handlebars.parse(source);
  } catch (err) {
    throw new TemplateError(where, `template does not parse: ${describeParseError((err as Error).message)}`, {
      cause: err,
    });
  }
}

/**
 * Names of the helpers a template calls, anywhere in it: Herald's, Handlebars' own that Herald
 * keeps, and the ones Herald removed (so that a call to one is refused by name).
 */
function helpersUsedBy(ast: hbs.AST.Program): Set<string> {
  const found = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (!node || typeof node !== 'object') return;
    const n = node as { type?: string; path?: { original?: unknown } };
    if (
      (n.type === 'MustacheStatement' || n.type === 'BlockStatement' || n.type === 'SubExpression') &&
      typeof n.path?.original === 'string' &&
      (Object.hasOwn(templateHelpers, n.path.original) ||
        BUILTIN_HELPERS.includes(n.path.original) ||
        UNAVAILABLE_HELPERS.includes(n.path.original))
    ) {
      found.add(n.path.original);
    }
    for (const [key, value] of Object.entries(node)) if (key !== 'loc') visit(value);
  };
  visit(ast);
  return found;
}

function usesPartials(ast: hbs.AST.Program): boolean {
  return JSON.stringify(ast).includes('"type":"Partial');
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
