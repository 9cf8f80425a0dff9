import { fileURLToPath } from 'node:url';
import { sampleEvent, TemplateError } from '@herald/core';
import { CONFIG_DEFAULTS, compileConfigTemplates, loadConfigFile } from '@herald/core/config';
import {
  buildTemplateContext,
  cleanSubject,
  htmlToText,
  TemplateRenderer,
  templateHelpers,
} from '@herald/core/templates';
import Handlebars from 'handlebars';
import { describe, expect, it } from 'vitest';

const flyteSubject = 'Notice: Execution "{{ workflow.name }}" has {{ phase }} in "{{ domain }}".';
const render = (subject: string, html: string, text?: string, event = sampleEvent()) =>
  new TemplateRenderer().compileEmail({ subject, html, text }, 'test').render(buildTemplateContext(event));

describe("FlyteAdmin's placeholders", () => {
  it("render FlyteAdmin's documented subject byte for byte", () => {
    const event = sampleEvent({ phase: 'TIMED_OUT' });
    // What FlyteAdmin's substituteEmailParameters produces for the same execution.
    expect(render(flyteSubject, '', undefined, event).subject).toBe(
      'Notice: Execution "core.example.wf" has timed_out in "development".',
    );
  });

  it('accept placeholders without spaces, as FlyteAdmin does', () => {
    expect(render('{{project}}/{{domain}}/{{name}} {{phase}}', '').subject).toBe(
      'flytesnacks/development/f8a1b2c3 failed',
    );
  });

  it("give FlyteAdmin's error sentence, or nothing without an error", () => {
    expect(render('x', '{{ error }}').text).toBe('The execution failed with error: [division by zero].');
    expect(render('x', '[{{ error }}]', undefined, sampleEvent({ phase: 'SUCCEEDED', error: undefined })).html).toBe(
      '[]',
    );
    expect(buildTemplateContext(sampleEvent()).error).toBe(' The execution failed with error: [division by zero].');
  });

  it('give workflow and launch plan identifiers, empty when the event has none', () => {
    const html =
      '{{ workflow.project }}|{{ workflow.domain }}|{{ workflow.name }}|{{ workflow.version }}|' +
      '{{ launch_plan.project }}|{{ launch_plan.domain }}|{{ launch_plan.name }}|{{ launch_plan.version }}';
    expect(render('x', html).html).toBe(
      'flytesnacks|development|core.example.wf|v1|flytesnacks|development|core.example.lp|v1',
    );
    expect(render('x', html, undefined, sampleEvent({ workflow: undefined, launchPlan: undefined })).html).toBe(
      '|||||||',
    );
  });
});

describe('escaping', () => {
  const hostile = sampleEvent({ error: { message: '<script>alert("x")</script>' } });

  it('escapes values in the HTML body', () => {
    const { html } = render('x', '<p>{{ errorMessage }}</p>', undefined, hostile);
    expect(html).toBe('<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</p>');
  });

  it('gives the value as plain text in the text body', () => {
    expect(render('x', '<p>{{ errorMessage }}</p>', undefined, hostile).text).toBe('<script>alert("x")</script>');
  });

  it('does not HTML-escape the subject', () => {
    expect(render('{{ errorMessage }}', '', undefined, hostile).subject).toBe('<script>alert("x")</script>');
  });

  it('never lets a value put a line break into the subject', () => {
    const event = sampleEvent({ execution: { project: 'p', domain: 'd\r\nBcc: victim@example.com', name: 'n' } });
    expect(render('{{ domain }} failed', '', undefined, event).subject).toBe('d Bcc: victim@example.com failed');
    expect(cleanSubject('a\n\n b\u2028c ')).toBe('a  b c');
  });
});

describe('text body', () => {
  it('uses its own template when one is configured', () => {
    expect(render('x', '<b>{{ name }}</b>', 'run {{ name }}').text).toBe('run f8a1b2c3');
  });

  it('is derived from the HTML, links and headings kept readable', () => {
    const { text } = render('x', '<h1>{{ workflow.name }}</h1><p>See <a href="{{ url }}">the console</a>.</p>');
    expect(text).toBe(
      'core.example.wf\n\nSee the console [https://flyte.example.com/console/projects/flytesnacks/domains/development/executions/f8a1b2c3].',
    );
  });

  it('is the same whether derived from the template or from the rendered HTML', () => {
    const html = '<ul>{{#each labels}}<li>{{@key}}: {{this}}</li>{{/each}}</ul><p>{{ duration }}</p>';
    const event = sampleEvent({ labels: { team: 'ml', tier: 'gold' } });
    const rendered = render('x', html, undefined, event);
    expect(rendered.text).toBe('* team: ml\n * tier: gold\n\n2m');
    expect(rendered.text).toBe(htmlToText(rendered.html).trim());
  });

  it('is derived once from the default body, whose link shows its address as its text', () => {
    // Derived text puts each value in as it is; converting every rendered body would collapse
    // the spaces, so the spaces show which way the text was made.
    const event = sampleEvent({ execution: { project: 'p', domain: 'd', name: 'nightly   run' } });
    const { text } = render('x', CONFIG_DEFAULTS.emailer.body, undefined, event);
    expect(text).toBe(
      'Execution "nightly   run" has failed in "d". View details at https://flyte.example.com/console/projects/flytesnacks/domains/development/executions/f8a1b2c3. The execution failed with error: [division by zero].',
    );
  });

  it('converts raw HTML output after rendering, so markup never leaks into the text', () => {
    const event = sampleEvent({ labels: { note: '<b>bold</b> claim' } });
    expect(render('x', '<p>{{{ labels.note }}}</p>', undefined, event).text).toBe('bold claim');
  });

  it('is converted from the HTML already rendered for the email, never by rendering the HTML again', () => {
    let reads = 0;
    const labels = {
      get note() {
        reads++;
        return '<b>bold</b> claim';
      },
    };
    const email = new TemplateRenderer().compileEmail({ subject: 'x', html: '<p>{{{ labels.note }}}</p>' }, 'test');
    const rendered = email.render({ ...buildTemplateContext(sampleEvent()), labels });
    expect(rendered.text).toBe('bold claim');
    expect(reads).toBe(1);
  });
});

describe('templates', () => {
  it('fail to compile with the template named, not at send time', () => {
    expect(() =>
      new TemplateRenderer().compileEmail({ subject: '{{#if x}}', html: '' }, 'notifications.emailer'),
    ).toThrow(TemplateError);
  });

  it("refuse Handlebars' log helper, naming the template, so no template can write to Herald's logs", () => {
    for (const html of ['{{log "email delivered"}}', '{{log}}', '{{#if (log name)}}x{{/if}}', '{{#log}}x{{/log}}']) {
      expect(() => new TemplateRenderer().compileEmail({ subject: 'x', html }, 'notifications.emailer')).toThrow(
        "notifications.emailer.body: {{log}} is not available in Herald's templates",
      );
    }
  });

  it('strip whitespace exactly as Handlebars does when it compiles the source itself', () => {
    const context = { ...buildTemplateContext(sampleEvent()), items: ['a', 'b'] };
    for (const html of [
      '<p>\n  {{#if url}}\n    <a href="{{url}}">x</a>\n  {{/if}}\n</p>',
      '{{~ name ~}}   |   {{~phase}}  \n  {{domain~}}\n\n end',
      '<ul>\n{{#each items}}\n  <li>{{this}}</li>\n{{/each}}\n</ul>\n',
      '  {{#if x}}\n  yes\n  {{else}}\n  no\n  {{/if}}  \n{{! a comment }}\nafter',
      '{{#with execution}}\r\n {{name}}\r\n{{/with}}\r\n',
    ]) {
      const rendered = new TemplateRenderer().compileEmail({ subject: 'x', html }, 'test').render(context);
      expect(rendered.html, html).toBe(Handlebars.compile(html)(context));
    }
  });

  it('offer helpers', () => {
    const html =
      '{{upper phase}} {{formatDuration durationMs}} {{formatDate event.time}} {{default labels.owner "nobody"}} {{truncate errorMessage 8}}';
    expect(render('x', html).html).toBe('FAILED 2m 2026-11-21 10:00:00 UTC nobody divisio…');
  });

  it('never cut an escaped value inside an entity', () => {
    const truncate = templateHelpers.truncate as (value: unknown, max: unknown) => string;
    expect(truncate('a &amp; b', 4)).toBe('a …');
    expect(truncate('a &lt;tag&gt;', 6)).toBe('a …');
    expect(truncate('a &amp; b', 8)).toBe('a &amp;…');
    expect(truncate('fits', 8)).toBe('fits');
  });

  it('offer partials in HTML and text', () => {
    const renderer = new TemplateRenderer({ partials: { footer: '<p>Sent by <b>Herald</b></p>' } });
    const email = renderer.compileEmail({ subject: '{{ name }}', html: '<p>{{ name }}</p>{{> footer}}' }, 'x');
    const out = email.render(buildTemplateContext(sampleEvent()));
    expect(out.html).toBe('<p>f8a1b2c3</p><p>Sent by <b>Herald</b></p>');
    expect(out.text).toBe('f8a1b2c3\n\nSent by Herald');
  });

  it('compile a template named at run time once and reuse it', () => {
    const renderer = new TemplateRenderer();
    const sources = { subject: '{{ name }}', html: '<p>{{ phase }}</p>' };
    expect(renderer.compileCachedEmail(sources, 'a')).toBe(renderer.compileCachedEmail({ ...sources }, 'b'));
  });

  it('keep only a bounded number of templates named at run time', () => {
    const renderer = new TemplateRenderer({ eventTemplateCacheSize: 2 });
    const first = renderer.compileCachedEmail({ subject: '1', html: '' }, 'x');
    renderer.compileCachedEmail({ subject: '2', html: '' }, 'x');
    renderer.compileCachedEmail({ subject: '3', html: '' }, 'x');
    expect(renderer.compileCachedEmail({ subject: '1', html: '' }, 'x')).not.toBe(first);
  });
});

describe('config templates', () => {
  it("render FlyteAdmin's documented AWS example the way FlyteAdmin does", () => {
    const config = loadConfigFile(fileURLToPath(new URL('../fixtures/flyteadmin-aws.yaml', import.meta.url)), {});
    const email = compileConfigTemplates(config).defaultEmail.render(buildTemplateContext(sampleEvent()));
    expect(email.subject).toBe('Notice: Execution "core.example.wf" has failed in "development".');
    expect(email.html).toBe(
      'Execution \\"core.example.wf [f8a1b2c3]\\" has failed in \\"development\\". View details at ' +
        '<a href=\\http://flyte.company.com/console/projects/flytesnacks/domains/development/executions/f8a1b2c3> ' +
        'http://flyte.company.com/console/projects/flytesnacks/domains/development/executions/f8a1b2c3</a>.  The execution failed with error: [division by zero].\n',
    );
  });
});
