/**
 * `@herald/core/templates`: Handlebars rendering of subjects, bodies and channel payloads, the
 * template context built from an event, and the worker thread that bounds templates an event
 * carries.
 */
export * from './context.js';
export * from './digest.js';
export { EVENT_TEMPLATE_LIMITS, type EventTemplatePart } from './event-template-limits.js';
export type { EventEmailSources } from './event-template-worker.js';
export { templateHelpers } from './helpers.js';
export { htmlToText } from './html-to-text.js';
export * from './placeholders.js';
export * from './renderer.js';
