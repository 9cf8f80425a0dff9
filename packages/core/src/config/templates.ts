import { type CompiledEmailTemplate, TemplateRenderer } from '../templates/renderer.js';
import type { ResolvedConfig } from './resolved.js';

/** The renderer and the default email template a config describes. */
export interface ConfigTemplates {
  /**
   * Shared by everything built from one config; whoever renders templates carried on events
   * with it holds it ({@link TemplateRenderer.hold}) and lets go when done.
   */
  renderer: TemplateRenderer;
  defaultEmail: CompiledEmailTemplate;
}

const compiled = new WeakMap<ResolvedConfig, ConfigTemplates>();

/**
 * The templates a config names, compiled once per loaded config: the loader compiles them to
 * check them, and the processor, `herald render` and `herald send-test` render with the same
 * compiled templates.
 * @throws TemplateError naming the config key of the bad template.
 */
export function compileConfigTemplates(config: ResolvedConfig): ConfigTemplates {
  const known = compiled.get(config);
  if (known) return known;
  const renderer = new TemplateRenderer({
    partials: config.templates.partials,
    eventTemplateBudgetMs: config.processing.eventTemplateBudgetMs,
  });
  const defaultEmail = renderer.compileEmail(
    { subject: config.emailer.subject, html: config.emailer.body, text: config.emailer.text },
    'notifications.emailer',
  );
  const templates = { renderer, defaultEmail };
  compiled.set(config, templates);
  return templates;
}
