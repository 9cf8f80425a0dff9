export type { Channel, ChannelDigest, ChannelResult, PreparedRequest, PrepareOptions } from './channel.js';
export { createChannels } from './factory.js';
export { redactUrl, retryAfterMs, sendHttp } from './http.js';
export { JiraChannel } from './jira.js';
export { compileJsonTemplate, type JsonTemplateFn } from './json-template.js';
export { PagerDutyChannel } from './pagerduty.js';
export { SlackChannel, slackEscape } from './slack.js';
export { DEFAULT_SIGNATURE_HEADER, WebhookChannel } from './webhook.js';
