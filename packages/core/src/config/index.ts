/**
 * `@herald/core/config`: Herald's YAML configuration (FlyteAdmin's `notifications:` block plus
 * `herald:`), read, resolved to defaults, checked, and the secrets it names.
 */
export * from './defaults.js';
export * from './load.js';
export * from './resolved.js';
export * from './secret-needs.js';
