import { type ConfigProblem, TemplateError } from '../contract/errors.js';
import { formatPath } from '../contract/issues.js';
import { sampleTemplateContext, type TemplateContext } from '../templates/context.js';
import { DEFAULT_DIGEST_SUBJECT, sampleDigestContext } from '../templates/digest.js';
import { knownPlaceholders, unknownPlaceholders } from '../templates/placeholders.js';
import { TemplateRenderer } from '../templates/renderer.js';
import { CONFIG_DEFAULTS } from './defaults.js';
import { describeEnvFill, type EnvProvenance } from './env.js';
import type { ResolvedConfig, ResolvedDigest } from './resolved.js';
import { compileConfigTemplates } from './templates.js';
import { valueAt } from './tree.js';

/**
 * Every template of a config that did not validate, each compiled on its own so one run lists
 * every bad one.
 */
export function checkTemplateTree(tree: unknown, problems: ConfigProblem[], fromEnv: EnvProvenance): void {
  checkTemplateSources(templateSourcesOf(tree), problems, fromEnv);
}

/**
 * Every template of a resolved config: the email templates, each channel's and each rule's,
 * compiled once into the templates that will render them ({@link compileConfigTemplates}) and
 * rendered against a complete sample event. When the email templates do not compile together,
 * each is compiled on its own to report every bad one.
 */
export function checkConfigTemplates(config: ResolvedConfig, problems: ConfigProblem[], fromEnv: EnvProvenance): void {
  const sources = {
    subject: config.emailer.subject,
    body: config.emailer.body,
    text: config.emailer.text,
    partials: config.templates.partials,
  };
  let renderer: TemplateRenderer;
  try {
    // Compiling renders each template on the sample event. A text body derived from the HTML
    // is derived by the first email instead (that cannot fail: it falls back to converting the
    // rendered HTML), so checking a config never loads html-to-text.
    renderer = compileConfigTemplates(config).renderer;
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    checkTemplateSources(sources, problems, fromEnv);
    renderer = new TemplateRenderer();
  }
  for (const [path, source] of [
    ['notifications.emailer.subject', sources.subject],
    ['notifications.emailer.body', sources.body],
    ['herald.emailer.text', sources.text],
  ] as const) {
    if (source !== undefined)
      record(problems, fromEnv, path, () => checkPlaceholders(source, path.split('.').pop() ?? path));
  }
  checkChannelTemplates(config, { renderer, problems, fromEnv });
  checkRuleTemplates(config, { renderer, problems, fromEnv });
}

/** What a check renders with and where it reports. */
interface TemplateCheck {
  renderer: TemplateRenderer;
  problems: ConfigProblem[];
  fromEnv: EnvProvenance;
}

interface TemplateSources {
  subject?: unknown;
  body?: unknown;
  text?: unknown;
  partials?: unknown;
}

function templateSourcesOf(tree: unknown): TemplateSources {
  return {
    subject: valueAt(tree, 'notifications', 'emailer', 'subject'),
    body: valueAt(tree, 'notifications', 'emailer', 'body'),
    text: valueAt(tree, 'herald', 'emailer', 'text'),
    partials: valueAt(tree, 'herald', 'templates', 'partials'),
  };
}

/**
 * Compiles each template on its own, so every bad one is reported, then renders the email
 * once against a complete sample event: that also catches a reference to a partial that does
 * not exist, which Handlebars reports only when rendering.
 */
function checkTemplateSources(sources: TemplateSources, problems: ConfigProblem[], fromEnv: EnvProvenance): void {
  const partials: Record<string, string> = {};
  if (sources.partials && typeof sources.partials === 'object') {
    for (const [name, source] of Object.entries(sources.partials)) {
      if (typeof source !== 'string') continue;
      if (
        record(
          problems,
          fromEnv,
          formatPath(['herald', 'templates', 'partials', name]),
          () => new TemplateRenderer({ partials: { [name]: source } }),
        )
      ) {
        partials[name] = source;
      }
    }
  }
  const renderer = new TemplateRenderer({ partials });
  const str = (v: unknown, fallback: string) => (typeof v === 'string' && v !== '' ? v : fallback);
  const subject = str(sources.subject, CONFIG_DEFAULTS.emailer.subject);
  const body = str(sources.body, CONFIG_DEFAULTS.emailer.body);
  const text = typeof sources.text === 'string' ? sources.text : undefined;
  const sample = sampleTemplateContext();
  record(problems, fromEnv, 'notifications.emailer.subject', () => {
    renderer.compilePlain(subject, 'subject')(sample);
    checkPlaceholders(subject, 'subject');
  });
  record(problems, fromEnv, 'notifications.emailer.body', () => {
    renderer.compileEmail({ subject: '', html: body }, 'body').render(sample);
    checkPlaceholders(body, 'body');
  });
  if (text !== undefined) {
    record(problems, fromEnv, 'herald.emailer.text', () => {
      renderer.compilePlain(text, 'text')(sample);
      checkPlaceholders(text, 'text');
    });
  }
}

/**
 * A placeholder that names nothing renders empty (FlyteAdmin would leave it in the email as
 * written): either way a typo loses the value, so it is a config error.
 * @throws TemplateError listing the unknown placeholders and the known ones.
 */
function checkPlaceholders(source: string, where: string): void {
  const unknown = unknownPlaceholders(source);
  if (unknown.length === 0) return;
  const names = unknown.map((name) => `{{ ${name} }}`).join(', ');
  throw new TemplateError(
    where,
    `unknown placeholder${unknown.length > 1 ? 's' : ''} ${names} (would render empty); the template context has ${knownPlaceholders().join(', ')}`,
  );
}

/** Template-bearing keys of each channel type; JSON templates are checked string by string. */
const CHANNEL_TEMPLATE_KEYS = ['text', 'blocks', 'summary', 'description', 'body'] as const;

/**
 * Compiles and renders every channel template (and every string of a JSON payload template)
 * against the sample event, so `herald validate` catches them without needing the channels'
 * secrets.
 */
function checkChannelTemplates(config: ResolvedConfig, { renderer, problems, fromEnv }: TemplateCheck): void {
  const sample = sampleTemplateContext();
  const visit = (value: unknown, path: string): void => {
    if (typeof value === 'string') {
      record(problems, fromEnv, path, () => {
        renderer.compilePlain(value, path)(sample);
        checkPlaceholders(value, path);
      });
    } else if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) visit(item, `${path}[${i}]`);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) visit(item, `${path}.${key}`);
    }
  };
  for (const [name, channel] of Object.entries(config.channels)) {
    for (const key of CHANNEL_TEMPLATE_KEYS) {
      const value = (channel as Record<string, unknown>)[key];
      if (value !== undefined) visit(value, `herald.channels.${name}.${key}`);
    }
  }
}

/**
 * Compiles and renders each rule's own subject and body against the sample event: they are
 * config too, so a bad one is found by `herald validate` rather than dead-lettered at send time.
 * They are compiled as the processor will render them (with the config's template for what the
 * rule leaves out) into the renderer's cache, so the processor finds them compiled.
 */
function checkRuleTemplates(config: ResolvedConfig, { renderer, problems, fromEnv }: TemplateCheck): void {
  const sample = sampleTemplateContext();
  const digests: [string, ResolvedDigest | undefined][] = [
    ...config.rules.map((rule, i): [string, ResolvedDigest | undefined] => [`herald.rules[${i}].digest`, rule.digest]),
    ['herald.eventNotifications.digest', config.eventNotifications.digest],
  ];
  const expects = config.rules.map((rule, i): [string, ResolvedDigest | undefined] => [
    `herald.rules[${i}].expect`,
    rule.expect && { ...rule.expect, windowMs: rule.expect.withinMs, groupBy: [], max: 1, immediateFirst: false },
  ]);
  for (const [at, digest] of [...digests, ...expects]) {
    if (!digest) continue;
    // Rendered on a sample digest, as an email (HTML body) and as a chat message (plain text).
    const digestSample = sampleDigestContext();
    if (digest.subject !== undefined) {
      record(problems, fromEnv, at, () => renderer.compilePlain(digest.subject ?? '', `${at}.subject`)(digestSample));
    }
    if (digest.body !== undefined) {
      const body = digest.body;
      record(problems, fromEnv, at, () => {
        renderer.compilePlain(body, `${at}.body`)(digestSample);
        renderer
          .compileCachedEmail({ subject: DEFAULT_DIGEST_SUBJECT, html: body }, at)
          .render(digestSample as unknown as TemplateContext);
      });
    }
  }
  for (const [i, rule] of config.rules.entries()) {
    const oncePer = rule.oncePer;
    if (oncePer !== undefined) {
      const at = `herald.rules[${i}].oncePer`;
      record(problems, fromEnv, at, () => {
        renderer.compilePlain(oncePer, at)(sample);
        checkPlaceholders(oncePer, 'oncePer');
      });
    }
  }
  for (const [i, rule] of config.rules.entries()) {
    if (rule.subject === undefined && rule.body === undefined) continue;
    const at = `herald.rules[${i}]`;
    const sources = {
      subject: rule.subject ?? config.emailer.subject,
      html: rule.body ?? config.emailer.body,
      text: rule.body === undefined ? config.emailer.text : undefined,
    };
    // compileEmail names its parts `<name>.subject` and `<name>.body`: the keys of the rule.
    // Compiling renders each part on the sample event, as for the default email above.
    record(problems, fromEnv, at, () => renderer.compileCachedEmail(sources, at));
  }
}

/**
 * Runs `attempt`; a TemplateError becomes a problem at `path`. True when it succeeded. The
 * reason is left out for a template filled from the environment: Handlebars' reasons quote
 * the template around the fault.
 */
function record(problems: ConfigProblem[], fromEnv: EnvProvenance, path: string, attempt: () => unknown): boolean {
  try {
    attempt();
    return true;
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    const at = err.template.startsWith(`${path}.`) ? err.template : path;
    const fill = fromEnv.get(at);
    problems.push({
      path: at,
      message: fill
        ? `invalid template; the reason is not shown, as it may quote ${describeEnvFill(fill)}`
        : err.detail,
    });
    return false;
  }
}
