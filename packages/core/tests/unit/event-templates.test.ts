import { type ExecutionEvent, HeraldError, sampleEvent, TemplateError } from '@herald/core';
import { compileConfigTemplates, parseConfig } from '@herald/core/config';
import {
  buildTemplateContext,
  EVENT_TEMPLATE_LIMITS,
  type EventEmailSources,
  TemplateRenderer,
} from '@herald/core/templates';
import { afterEach, describe, expect, it } from 'vitest';

// Each test starts worker threads, which load Handlebars (through tsx, from the sources).
describe('templates carried on events', { timeout: 60_000 }, () => {
  let renderer: TemplateRenderer;
  afterEach(async () => {
    await renderer?.close();
  });

  const eventWithLabels = (count: number): ExecutionEvent =>
    sampleEvent({ labels: Object.fromEntries(Array.from({ length: count }, (_, i) => [`key${i}`, `value${i}`])) });
  const fromEvent = (html: string, subject = '{{ name }}'): EventEmailSources => ({
    subject,
    html,
    fromEvent: ['subject', 'html'],
  });
  // Two loops (the most allowed) over 300 labels, each step serialising all of them: far more
  // than a second of work, yet within every static limit. Only the budget can stop it.
  const slowHtml =
    '{{#each @root.labels}}{{#each @root.labels}}{{#if (eq (json @root.labels) "")}}x{{/if}}{{/each}}{{/each}}';

  async function rejection(promise: Promise<unknown>): Promise<Error> {
    try {
      await promise;
    } catch (err) {
      return err as Error;
    }
    throw new Error('expected a rejection');
  }

  it('render in a worker exactly as the same templates render in the processor', async () => {
    renderer = new TemplateRenderer({ partials: { footer: '<p>Sent by <b>Herald</b></p>' } });
    const html = '<h1>{{ workflow.name }}</h1><p><a href="{{ url }}">{{ url }}</a> {{upper phase}}</p>{{> footer}}';
    const event = sampleEvent();

    const inWorker = await renderer.renderEventEmail(fromEvent(html), 'event', event);

    expect(inWorker).toEqual(
      renderer.compileEmail({ subject: '{{ name }}', html }, 'config').render(buildTemplateContext(event)),
    );
  });

  it('keep their worker while anything built from the config still holds it', async () => {
    renderer = new TemplateRenderer();
    const processor = renderer.hold();
    const preview = renderer.hold();
    await renderer.renderEventEmail(fromEvent('<p>{{ name }}</p>'), 'first', sampleEvent());
    expect(renderer.eventTemplateThreadsStarted).toBe(1);

    await preview.close();
    await preview.close(); // a second close of one hold lets go of nothing more
    expect(renderer.eventTemplateThreadsStarted).toBe(1);
    await expect(
      renderer.renderEventEmail(fromEvent('<p>{{ phase }}</p>'), 'second', sampleEvent()),
    ).resolves.toMatchObject({
      html: '<p>failed</p>',
    });

    await processor.close();
    expect(renderer.eventTemplateThreadsStarted).toBe(0);
  });

  it('start no worker until an event carries a template', async () => {
    const config = parseConfig('notifications: {type: sandbox}', { env: {} });
    const templates = compileConfigTemplates(config);
    renderer = templates.renderer;
    templates.defaultEmail.render(buildTemplateContext(sampleEvent()));
    expect(renderer.eventTemplateThreadsStarted).toBe(0);

    await renderer.renderEventEmail(fromEvent('<p>{{ name }}</p>'), 'event', sampleEvent());
    expect(renderer.eventTemplateThreadsStarted).toBe(1);
  });

  it('are stopped when they run over the budget, and the next one renders on a fresh worker', async () => {
    // The default budget: a fresh worker's first render is slow on a loaded machine (CI runs the
    // fault scenarios beside this), and the slow template takes several seconds anyway.
    renderer = new TemplateRenderer({ eventTemplateBudgetMs: 1000 });
    await renderer.renderEventEmail(fromEvent('warm-up'), 'warm-up', sampleEvent()); // the worker is ready
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);

    const slow = rejection(renderer.renderEventEmail(fromEvent(slowHtml), 'slow', eventWithLabels(300)));
    const next = renderer.renderEventEmail(fromEvent('<p>{{ name }}</p>'), 'next', sampleEvent());
    const err = await slow;
    const ticksWhileSlow = ticks;
    clearInterval(ticker);

    expect(err).toBeInstanceOf(TemplateError);
    expect(err.message).toBe(
      'slow: rendering took longer than the 1000 ms budget for templates carried on events (herald.processor.eventTemplateBudgetMs) and was stopped',
    );
    // This thread kept running while the template looped in the worker.
    expect(ticksWhileSlow).toBeGreaterThan(1);
    expect((await next).html).toBe('<p>f8a1b2c3</p>');
    expect(renderer.eventTemplateThreadsStarted).toBe(2);
  });

  it('may not nest loops more than two deep, define partials, or call log, named by part', async () => {
    renderer = new TemplateRenderer();
    const event = eventWithLabels(1000);
    const cases: [EventEmailSources, string][] = [
      [
        fromEvent('{{#each @root.labels}}{{#each @root.labels}}{{#each @root.labels}}x{{/each}}{{/each}}{{/each}}'),
        'event.body: nests loops ({{#each}}) 3 deep; a template carried on an event may nest them at most 2 deep',
      ],
      [
        fromEvent(
          '{{#each labels}}{{#with @root}}{{#event.notifications}}{{#each @root.labels}}x{{/each}}{{/event.notifications}}{{/with}}{{/each}}',
        ),
        'event.body: nests loops ({{#each}}) 3 deep; a template carried on an event may nest them at most 2 deep',
      ],
      [
        fromEvent('{{#*inline "r"}}{{> r}}{{/inline}}{{> r}}'),
        'event.body: defines a partial ({{#*inline}}), which a template carried on an event may not',
      ],
      [
        fromEvent('x', '{{log "email delivered"}}'),
        "event.subject: {{log}} is not available in Herald's templates: a template must not write to Herald's logs",
      ],
    ];
    for (const [sources, message] of cases) {
      const err = await rejection(renderer.renderEventEmail(sources, 'event', event));
      expect(err).toBeInstanceOf(TemplateError);
      expect(err.message).toBe(message);
    }
  });

  it('hold to the limits only the parts the event wrote, not the configured ones', async () => {
    renderer = new TemplateRenderer();
    const configuredBody = `<p>{{#each labels}}{{#each @root.labels}}{{#each @root.labels}}.{{/each}}{{/each}}{{/each}}</p>${' '.repeat(EVENT_TEMPLATE_LIMITS.maxTemplateChars)}`;

    const email = await renderer.renderEventEmail(
      { subject: 'from the event: {{ name }}', html: configuredBody, fromEvent: ['subject'] },
      'event',
      sampleEvent(),
    );

    expect(email.subject).toBe('from the event: f8a1b2c3');
    expect(email.html).toMatch(/^<p>\.<\/p>/);
  });

  it('refuse an over-long template, or a larger event, without starting a worker', async () => {
    renderer = new TemplateRenderer();
    const long = 'x'.repeat(EVENT_TEMPLATE_LIMITS.maxTemplateChars + 1);
    const huge = sampleEvent({ labels: { blob: 'x'.repeat(EVENT_TEMPLATE_LIMITS.maxEventChars) } });

    const tooLong = await rejection(renderer.renderEventEmail(fromEvent(long), 'event', sampleEvent()));
    const tooLarge = await rejection(renderer.renderEventEmail(fromEvent('<p>{{ name }}</p>'), 'event', huge));

    expect(tooLong.message).toBe(
      `event.body: is ${long.length} characters long; a template carried on an event may have at most ${EVENT_TEMPLATE_LIMITS.maxTemplateChars}`,
    );
    expect(tooLarge).toBeInstanceOf(TemplateError);
    expect(tooLarge.message).toMatch(/^event: the event is \d+ characters of JSON; .* at most 262144$/);
    expect(renderer.eventTemplateThreadsStarted).toBe(0);
  });

  it('refuse an email that renders larger than an email part may be', async () => {
    // A budget no machine under load runs out of: this is about size, not time.
    renderer = new TemplateRenderer({ eventTemplateBudgetMs: 30_000 });
    const err = await rejection(
      renderer.renderEventEmail(
        fromEvent('{{#each labels}}{{json @root.labels}}{{/each}}'),
        'event',
        eventWithLabels(300),
      ),
    );
    expect(err).toBeInstanceOf(TemplateError);
    expect(err.message).toMatch(/^event: the rendered html has \d+ characters; .* at most 1048576 in each part$/);
  });

  it('withdraw a request still waiting for the worker when its signal is aborted', async () => {
    renderer = new TemplateRenderer({ eventTemplateBudgetMs: 500 });
    const order: string[] = [];
    const slow = rejection(renderer.renderEventEmail(fromEvent(slowHtml), 'slow', eventWithLabels(300))).then((e) => {
      order.push('slow');
      return e;
    });
    const controller = new AbortController();
    const waiting = rejection(
      renderer.renderEventEmail(fromEvent('x'), 'waiting', sampleEvent(), { signal: controller.signal }),
    ).then((e) => {
      order.push('waiting');
      return e;
    });

    controller.abort(new Error('delivery timed out'));

    expect((await waiting).message).toBe('delivery timed out');
    expect((await slow).message).toMatch(/budget/);
    expect(order).toEqual(['waiting', 'slow']);
  });

  it('reject what is still waiting when closed, as a transient failure rather than a template error', async () => {
    renderer = new TemplateRenderer();
    const waiting = rejection(renderer.renderEventEmail(fromEvent('x'), 'event', sampleEvent()));

    await renderer.close();

    const err = await waiting;
    expect(err).toBeInstanceOf(HeraldError);
    expect(err).not.toBeInstanceOf(TemplateError);
  });
});
