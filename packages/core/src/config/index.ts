/**
 * `@herald/core/config`: Herald's YAML configuration (FlyteAdmin's `notifications:` block plus
 * `herald:`), read, resolved to defaults, checked, and the secrets it names.
 */

export { type ChannelSecretRole, channelSecret } from './channel-secrets.js';
export * from './defaults.js';
export { formatDurationText, parseDuration } from './durations.js';
export { compileGlob } from './glob.js';
export { configJsonSchema } from './json-schema.js';
export * from './load.js';
export * from './resolved.js';
export { DIGEST_GROUP_FIELDS, MESSAGE_INPUTS } from './schema.js';
export * from './secret-needs.js';
export * from './templates.js';
