import type { ExecutionEvent } from './event.js';

/**
 * A complete FAILED event, used to try templates when a config is loaded and by
 * `herald send-test`. Every optional field is set so that templates touching any of them render.
 */
export function sampleEvent(overrides: Partial<ExecutionEvent> = {}): ExecutionEvent {
  return {
    version: 1,
    id: '00000000-0000-4000-8000-000000000000',
    time: '2026-11-21T10:00:00Z',
    source: 'herald',
    execution: { project: 'flytesnacks', domain: 'development', name: 'f8a1b2c3' },
    phase: 'FAILED',
    previousPhase: 'RUNNING',
    error: { code: 'USER:ValueError', message: 'division by zero' },
    workflow: { project: 'flytesnacks', domain: 'development', name: 'core.example.wf', version: 'v1' },
    launchPlan: { project: 'flytesnacks', domain: 'development', name: 'core.example.lp', version: 'v1' },
    url: 'https://flyte.example.com/console/projects/flytesnacks/domains/development/executions/f8a1b2c3',
    startedAt: '2026-11-21T09:58:00Z',
    endedAt: '2026-11-21T10:00:00Z',
    labels: { team: 'ml' },
    notifications: [{ phases: ['FAILED'], email: { recipients: ['oncall@example.com'] } }],
    ...overrides,
  };
}
