import { DecodeError, describeIssues, PHASES, type Phase } from '@herald/core';
import * as z from 'zod';

/**
 * Hand-written schemas for the protojson FlyteAdmin puts in a CloudEvent's data. The flyteidl
 * npm build has no fromObject/toObject, so it cannot parse protojson itself. FlyteAdmin writes
 * it with Go's jsonpb defaults: lowerCamelCase names, enums as names, Timestamps as RFC 3339
 * strings, and fields at their default value left out (so a missing phase is UNDEFINED, a
 * missing error code is ""). Only what Herald maps is checked; everything else passes through.
 */

const nonEmpty = z.string().min(1);

/** protojson writes an enum as its name, but parsers also accept its number; take both. */
const phaseSchema = z
  .union([z.enum(PHASES), z.int().min(0).max(9)])
  .default('UNDEFINED')
  .transform((p): Phase => (typeof p === 'number' ? (PHASES[p] as Phase) : p));

/** `flyteidl.event.WorkflowExecutionEvent`: the fields Herald maps. */
const workflowEventSchema = z
  .object({
    executionId: z.object({ project: nonEmpty, domain: nonEmpty, name: nonEmpty }).loose(),
    phase: phaseSchema,
    occurredAt: z.iso.datetime({ offset: true }),
    // One member of the output_result oneof; outputUri and outputData are not needed.
    error: z
      .object({ code: z.string().default(''), message: z.string().default('') })
      .loose()
      .optional(),
  })
  .loose();

/** `flyteidl.core.Identifier`, as in CloudEventWorkflowExecution.launchPlanId. */
const identifierSchema = z
  .object({ project: nonEmpty, domain: nonEmpty, name: nonEmpty, version: z.string().optional() })
  .loose();

/** CloudEvents v1 data: `flyteidl.admin.WorkflowExecutionEventRequest`. */
const requestSchema = z.object({ requestId: z.string().optional(), event: workflowEventSchema }).loose();

/**
 * CloudEvents v2 data: `flyteidl.event.CloudEventWorkflowExecution`. FlyteAdmin only fills
 * launchPlanId (and the fields Herald ignores) on SUCCEEDED, after looking them up.
 */
const wrappedSchema = z
  .object({
    rawEvent: workflowEventSchema,
    launchPlanId: identifierSchema.optional(),
    labels: z.record(z.string(), z.string()).optional(),
  })
  .loose();

export type WorkflowEventJson = z.infer<typeof workflowEventSchema>;
export type RequestJson = z.infer<typeof requestSchema>;
export type WrappedJson = z.infer<typeof wrappedSchema>;

/** Validates v1 data; problems are named by their path under `data`. */
export function parseRequestJson(value: unknown): RequestJson {
  return parse(requestSchema, value);
}

/** Validates v2 data; problems are named by their path under `data`. */
export function parseWrappedJson(value: unknown): WrappedJson {
  return parse(wrappedSchema, value);
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  throw new DecodeError(describeIssues(result.error.issues, ['data']).map((p) => `${p.path}: ${p.message}`));
}
