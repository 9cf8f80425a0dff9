export type { Emailer, EmailMessage, SendOptions, SendResult } from './emailer.js';
export { createEmailer } from './factory.js';
export { OutboxEmailer, type OutboxEmailerOptions } from './outbox.js';
export { classify as classifySesError, isApiMissing, SesEmailer, type SesEmailerOptions } from './ses.js';
