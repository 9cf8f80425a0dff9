import Handlebars from 'handlebars';
import { sampleTemplateContext } from './context.js';
import { BUILTIN_HELPERS, templateHelpers } from './helpers.js';

type Node = hbs.AST.Node;

/** Top-level objects whose keys are fixed, so a misspelt key below them is caught too. */
const FIXED_SHAPE = new Set(['workflow', 'launch_plan', 'execution']);
/** Block helpers that keep `this`: names inside them are checked like the others. */
const KEEPS_CONTEXT = new Set(['if', 'unless']);
const HELPERS = new Set([...Object.keys(templateHelpers), ...BUILTIN_HELPERS]);

/** The template context as names: `{{ project }}`, `{{ workflow.name }}`, … */
function context(): Record<string, unknown> {
  return sampleTemplateContext() as unknown as Record<string, unknown>;
}

/**
 * The placeholders of a template that name nothing in the template context, written as in the
 * template (`foo`, `workflow.nme`). Handlebars renders them empty where FlyteAdmin would leave
 * them in the email as written; either way the reader loses the value, so the loader reports
 * them. Names inside blocks that change the context (`{{#each}}`, `{{#with}}`, sections),
 * `@data` variables and `this` are relative to something else and are not checked.
 */
export function unknownPlaceholders(source: string): string[] {
  const unknown = new Set<string>();
  const visitPath = (node: Node | undefined): void => {
    if (node?.type !== 'PathExpression') return;
    const path = node as hbs.AST.PathExpression;
    if (path.data || path.depth > 0 || path.parts.length === 0 || path.original.startsWith('this')) return;
    const [first, second] = path.parts as [string, string | undefined];
    const known = context();
    if (!Object.hasOwn(known, first)) unknown.add(path.original);
    else if (second !== undefined && FIXED_SHAPE.has(first) && !(second in (known[first] as object))) {
      unknown.add(path.original);
    }
  };
  const visitCall = (call: { path: Node; params: Node[]; hash?: hbs.AST.Hash }): void => {
    const name = call.path.type === 'PathExpression' ? (call.path as hbs.AST.PathExpression).original : '';
    const isHelperCall = HELPERS.has(name) || call.params.length > 0 || (call.hash?.pairs.length ?? 0) > 0;
    if (!isHelperCall) visitPath(call.path);
    for (const param of call.params) visitExpression(param);
    for (const pair of call.hash?.pairs ?? []) visitExpression(pair.value);
  };
  const visitExpression = (node: Node): void => {
    if (node.type === 'SubExpression') visitCall(node as hbs.AST.SubExpression);
    else visitPath(node);
  };
  const visitProgram = (program: hbs.AST.Program | undefined): void => {
    for (const statement of program?.body ?? []) {
      if (statement.type === 'MustacheStatement') visitCall(statement as hbs.AST.MustacheStatement);
      if (statement.type === 'BlockStatement') {
        const block = statement as hbs.AST.BlockStatement;
        visitCall(block);
        const name = block.path.type === 'PathExpression' ? (block.path as hbs.AST.PathExpression).original : '';
        // `if` and `unless` keep the context; `each`, `with` and sections (`{{#labels}}`) do not.
        if (KEEPS_CONTEXT.has(name)) {
          visitProgram(block.program);
          visitProgram(block.inverse);
        }
      }
    }
  };
  let program: hbs.AST.Program;
  try {
    program = Handlebars.parse(source);
  } catch {
    return []; // a syntax error is reported by the compiler, with its position
  }
  visitProgram(program);
  return [...unknown];
}

/** The names a template can use at its top level, for error messages. */
export function knownPlaceholders(): string[] {
  return Object.keys(context());
}
