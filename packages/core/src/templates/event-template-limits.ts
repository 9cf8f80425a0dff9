import Handlebars from 'handlebars';
import { TemplateError } from '../contract/errors.js';
import { BUILTIN_HELPERS, templateHelpers } from './helpers.js';

/**
 * What a template carried on an event may be. Config templates are the operator's and trusted;
 * an event's subject or body is written by whoever can publish an event, and one such template
 * must not be able to stall the processor. These bounds refuse the obvious cases early and with
 * a clear reason; the time budget (`herald.processor.eventTemplateBudgetMs`), enforced by
 * rendering in a worker thread that is terminated when it runs over, bounds whatever passes them.
 */
export const EVENT_TEMPLATE_LIMITS = {
  /** Characters of one subject or body: 32 Ki is a long hand-written HTML email. */
  maxTemplateChars: 32 * 1024,
  /**
   * Characters of the event, as JSON, that a template carried on it is rendered for: SNS's own
   * limit for a whole message (256 KiB), so no event that crossed SNS is refused by it.
   */
  maxEventChars: 256 * 1024,
  /**
   * How deeply loops (`{{#each}}`, and sections over a list such as `{{#event.notifications}}`)
   * may nest. Each level multiplies the work by the length of what it walks: three levels over
   * 300 labels are 27 million iterations, 13 s of a blocked thread before this limit existed.
   */
  maxLoopDepth: 2,
  /** Characters of each rendered part (subject, HTML, text): far more than any provider sends. */
  maxRenderedChars: 1024 * 1024,
  /**
   * Heap of the worker thread that renders them, in MB: a template that builds huge strings
   * runs out of memory there, where it only costs that thread, instead of in the processor.
   */
  workerHeapMb: 64,
} as const;

/** The parts of an email that can come from an event: its subject and its (HTML) body. */
export type EventTemplatePart = 'subject' | 'html';

// Block helpers that run their block at most once; every other block may iterate.
const RUNS_ONCE = new Set([...BUILTIN_HELPERS.filter((name) => name !== 'each'), ...Object.keys(templateHelpers)]);

/** `name.subject` / `name.body`: how a part is named in error messages, as in config keys. */
export function eventTemplatePartName(name: string, part: EventTemplatePart): string {
  return `${name}.${part === 'html' ? 'body' : part}`;
}

/**
 * Checks the length of a template carried on an event, before anything else is done with it.
 * @throws TemplateError naming the template and the limit.
 */
export function checkEventTemplateLength(source: string, where: string): void {
  const { maxTemplateChars } = EVENT_TEMPLATE_LIMITS;
  if (source.length > maxTemplateChars) {
    throw new TemplateError(
      where,
      `is ${source.length} characters long; a template carried on an event may have at most ${maxTemplateChars}`,
    );
  }
}

/**
 * Checks what a template carried on an event uses against {@link EVENT_TEMPLATE_LIMITS}: no
 * partial definitions, no loops nested too deep. A template that does not parse passes here:
 * compiling it reports where.
 * @param where the template's name in error messages.
 * @throws TemplateError naming the template and the limit.
 */
export function checkEventTemplate(source: string, where: string): void {
  const { maxLoopDepth } = EVENT_TEMPLATE_LIMITS;
  let program: hbs.AST.Program;
  try {
    program = Handlebars.parse(source);
  } catch {
    return;
  }
  let deepest = 0;
  const visit = (node: hbs.AST.Program | undefined, depth: number): void => {
    for (const statement of node?.body ?? []) {
      if (statement.type === 'DecoratorBlock' || statement.type === 'Decorator') {
        // Inline partials can call themselves: recursion with no bound but the stack.
        throw new TemplateError(
          where,
          'defines a partial ({{#*inline}}), which a template carried on an event may not',
        );
      }
      if (statement.type === 'PartialBlockStatement') {
        visit((statement as hbs.AST.PartialBlockStatement).program, depth);
      } else if (statement.type === 'BlockStatement') {
        const block = statement as hbs.AST.BlockStatement;
        const name = block.path.type === 'PathExpression' ? (block.path as hbs.AST.PathExpression).original : '';
        const inner = RUNS_ONCE.has(name) ? depth : depth + 1;
        deepest = Math.max(deepest, inner);
        visit(block.program, inner);
        visit(block.inverse, depth);
      }
    }
  };
  visit(program, 0);
  if (deepest > maxLoopDepth) {
    throw new TemplateError(
      where,
      `nests loops ({{#each}}) ${deepest} deep; a template carried on an event may nest them at most ${maxLoopDepth} deep`,
    );
  }
}
