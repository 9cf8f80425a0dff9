import type { TemplateRenderer } from '@herald/core/templates';

/** A compiled JSON payload template: context in, plain value out. */
export type JsonTemplateFn = (context: unknown) => unknown;

/**
 * Compiles a payload written as YAML/JSON whose string leaves are Handlebars templates. Each
 * string is rendered on its own and the whole is serialised afterwards, so an event value —
 * quotes, newlines, braces — can never break the JSON or inject a field.
 * @throws TemplateError naming the path of a string that does not parse.
 */
export function compileJsonTemplate(value: unknown, renderer: TemplateRenderer, path: string): JsonTemplateFn {
  if (typeof value === 'string') {
    const fn = renderer.compilePlain(value, path);
    return (context) => fn(context);
  }
  if (Array.isArray(value)) {
    const items = value.map((item, i) => compileJsonTemplate(item, renderer, `${path}[${i}]`));
    return (context) => items.map((item) => item(context));
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(
      ([key, item]) => [key, compileJsonTemplate(item, renderer, `${path}.${key}`)] as const,
    );
    return (context) => Object.fromEntries(entries.map(([key, item]) => [key, item(context)]));
  }
  return () => value;
}
