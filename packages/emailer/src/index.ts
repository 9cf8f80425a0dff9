export type { Emailer, EmailMessage, SendOptions, SendResult } from './emailer.js';
export { OutboxEmailer, type OutboxEmailerOptions } from './outbox.js';
export { createEmailer } from './factory.js';
