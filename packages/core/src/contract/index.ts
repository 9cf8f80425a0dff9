/**
 * `@herald/core`: the event contract every package shares. What an execution event is, how it
 * travels (codec, derived ids), the phases, and the errors Herald raises on purpose. Loads
 * neither YAML nor Handlebars, so a publisher pays only for zod.
 */
export * from './codec.js';
export * from './errors.js';
export * from './event.js';
export { canonicalJson, deriveEventId } from './event-id.js';
export { describeIssues, describeValue, formatPath, type UnknownKeyHint, type ValueDescriber } from './issues.js';
export * from './phases.js';
export * from './sample-event.js';
export { httpUrlProblem, maskUrlCredentials } from './urls.js';
