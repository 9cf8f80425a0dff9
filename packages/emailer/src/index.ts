export { readSecret } from '@herald/core/runtime';
export type { Emailer, EmailMessage, SendOptions, SendResult } from './emailer.js';
export { createEmailer } from './factory.js';
export { OutboxEmailer, type OutboxEmailerOptions } from './outbox.js';
export { classify as classifySendGridAnswer, SendGridEmailer, type SendGridEmailerOptions } from './sendgrid.js';
export { classify as classifySesError, isApiMissing, SesEmailer, type SesEmailerOptions } from './ses.js';
export { classify as classifySmtpError, SmtpEmailer, type SmtpEmailerOptions } from './smtp.js';
