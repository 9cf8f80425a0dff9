/**
 * The worker thread of `EventTemplateWorker`: compiles and renders templates carried on
 * events, one request at a time. Everything here may be stopped at any moment by the parent
 * terminating the thread; nothing here outlives a request but the compiled-template cache.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Handlebars from 'handlebars';
import { TemplateError } from '../contract/errors.js';
import { buildTemplateContext } from './context.js';
import { checkEventTemplate, EVENT_TEMPLATE_LIMITS, eventTemplatePartName } from './event-template-limits.js';
import type { EventTemplateReply, EventTemplateRequest } from './event-template-worker.js';
import { loadHtmlToText } from './html-to-text.js';
import { TemplateRenderer } from './renderer.js';

const port = parentPort;
if (!port) throw new Error('event-template-thread runs only as a worker thread');

// Handlebars reports a denied prototype access (`{{name.constructor}}`) on the console. The
// parent discards this thread's output anyway; this keeps the reports from being made at all.
Handlebars.logger.level = Number.POSITIVE_INFINITY;

const renderer = new TemplateRenderer({ partials: (workerData as { partials: Record<string, string> }).partials });

// Loaded before the thread says it is ready, as Handlebars is: a budget starts at ready, and
// the first email's text body should not spend it loading html-to-text.
loadHtmlToText();

port.on('message', (request: EventTemplateRequest) => port.postMessage(render(request)));
port.postMessage({ kind: 'ready' } satisfies EventTemplateReply);

function render({ id, sources, name, event }: EventTemplateRequest): EventTemplateReply {
  try {
    for (const part of sources.fromEvent) {
      checkEventTemplate(sources[part], eventTemplatePartName(name, part));
    }
    const email = renderer.compileCachedEmail(sources, name).render(buildTemplateContext(event));
    const { maxRenderedChars } = EVENT_TEMPLATE_LIMITS;
    for (const [part, value] of Object.entries(email)) {
      if (value.length > maxRenderedChars) {
        throw new TemplateError(
          name,
          `the rendered ${part} has ${value.length} characters; an email from templates carried on an event may have at most ${maxRenderedChars} in each part`,
        );
      }
    }
    return { kind: 'rendered', id, email };
  } catch (err) {
    if (err instanceof TemplateError) return { kind: 'refused', id, template: err.template, detail: err.detail };
    return { kind: 'failed', id, message: err instanceof Error ? err.message : String(err) };
  }
}
