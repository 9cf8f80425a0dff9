/**
 * Render benchmark: subject + 1 KB HTML body + text body per render, measured three ways in the
 * same run so the ratios are meaningful on any machine:
 *
 * - cached:            Herald's path — templates compiled once, text template derived once.
 * - cached, text/render: templates compiled once, text converted from each rendered HTML body.
 * - compile each time: the naive baseline — Handlebars.compile on every render, text converted.
 *
 * Usage: pnpm bench:render [--seconds N]   (writes bench/results/render.json)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { sampleEvent } from '@herald/core';
import { buildTemplateContext, htmlToText, TemplateRenderer } from '@herald/core/templates';
import Handlebars from 'handlebars';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 2;

const subject = 'Notice: Execution "{{ workflow.name }}" has {{ phase }} in "{{ domain }}".';
const html = `<html><body style="font-family: sans-serif">
<h2>{{ workflow.name }} {{ phase }}</h2>
<p>Execution <b>{{ project }}/{{ domain }}/{{ name }}</b> moved from {{ previousPhase }} to {{ phaseName }}
after {{ duration }}.{{ error }}</p>
<table>
  <tr><td>Project</td><td>{{ project }}</td></tr>
  <tr><td>Domain</td><td>{{ domain }}</td></tr>
  <tr><td>Workflow</td><td>{{ workflow.name }} ({{ workflow.version }})</td></tr>
  <tr><td>Launch plan</td><td>{{ launch_plan.name }} ({{ launch_plan.version }})</td></tr>
  <tr><td>Started</td><td>{{ startedAt }}</td></tr>
  <tr><td>Ended</td><td>{{ endedAt }}</td></tr>
  <tr><td>Team</td><td>{{ labels.team }}</td></tr>
</table>
<p><a href="{{ url }}">Open the execution in the console</a></p>
<p style="color: #777">You receive this because a launch plan lists you for {{ phase }} executions.
Ask the owners of {{ project }} to change its notifications if you should not.</p>
</body></html>`;

// A few different events so nothing is accidentally constant-folded.
const contexts = Array.from({ length: 16 }, (_, i) =>
  buildTemplateContext(
    sampleEvent({
      id: `bench-${i}`,
      execution: { project: 'flytesnacks', domain: i % 2 ? 'development' : 'production', name: `exec${i}` },
      error: { message: `error number ${i} <in> "quotes"` },
    }),
  ),
);

/** Renders per second of one variant over `ms` milliseconds. */
function measureOnce(renderOnce: (i: number) => number, ms: number): number {
  let sink = 0;
  const deadline = performance.now() + ms;
  let count = 0;
  const start = performance.now();
  while (performance.now() < deadline) {
    for (let j = 0; j < 100; j++, count++) sink += renderOnce(count);
  }
  const elapsed = (performance.now() - start) / 1000;
  if (sink === 42) console.log('');
  return count / elapsed;
}

/**
 * The variants take turns in several rounds and each reports its median, so a burst of load
 * from elsewhere on a shared machine hits all of them alike instead of skewing one.
 */
function measureAll(variants: Record<string, (i: number) => number>): { name: string; rendersPerSecond: number }[] {
  const rounds = 5;
  const samples = new Map<string, number[]>(Object.keys(variants).map((name) => [name, []]));
  for (const render of Object.values(variants)) for (let i = 0; i < 2_000; i++) render(i); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (const [name, render] of Object.entries(variants)) {
      // Collect the previous variant's garbage now, not during this one's window.
      (globalThis as { gc?: () => void }).gc?.();
      samples.get(name)?.push(measureOnce(render, (seconds * 1000) / rounds));
    }
  }
  return [...samples].map(([name, values]) => ({
    name,
    rendersPerSecond: [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0,
  }));
}

const renderer = new TemplateRenderer();
const cached = renderer.compileEmail({ subject, html }, 'bench');
const env = Handlebars.create();
const subjectFn = env.compile(subject, { noEscape: true });
const htmlFn = env.compile(html);

const results = measureAll({
  'cached (Herald)': (i) => {
    const r = cached.render(contexts[i % contexts.length] as never);
    return r.subject.length + r.html.length + r.text.length;
  },
  'cached, text converted per render': (i) => {
    const ctx = contexts[i % contexts.length];
    const body = htmlFn(ctx);
    return subjectFn(ctx).length + body.length + htmlToText(body).length;
  },
  'compile every time (baseline)': (i) => {
    const ctx = contexts[i % contexts.length];
    const e = Handlebars.create();
    const body = e.compile(html)(ctx);
    return e.compile(subject, { noEscape: true })(ctx).length + body.length + htmlToText(body).length;
  },
});

const baseline = results[results.length - 1]?.rendersPerSecond ?? 1;
const htmlBytes = Buffer.byteLength(htmlFn(contexts[0]));
console.log(
  `render benchmark: subject + ${htmlBytes} B HTML + text, ${seconds}s per variant in 5 interleaved rounds (median), one core (${cpus()[0]?.model ?? 'cpu'})`,
);
console.log('| variant | renders/s | × baseline |');
console.log('|---|---:|---:|');
for (const r of results) {
  console.log(
    `| ${r.name} | ${Math.round(r.rendersPerSecond).toLocaleString('en-US')} | ${(r.rendersPerSecond / baseline).toFixed(1)} |`,
  );
}
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/render.json', import.meta.url),
  `${JSON.stringify({ benchmark: 'render', node: process.version, cpu: cpus()[0]?.model, htmlBytes, seconds, results, time: new Date().toISOString() }, null, 2)}\n`,
);
