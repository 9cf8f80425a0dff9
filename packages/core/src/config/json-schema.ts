import * as z from 'zod';
import { nodeUtil } from '../contract/node-builtin.js';
import { configFileSchema, writtenForms } from './schema.js';

type JsonSchema = z.core.JSONSchema.BaseSchema;

/**
 * A `${VAR}` or `${VAR:-default}` reference (env.ts). Expansion happens before validation, so a
 * reference may stand wherever the file may hold a string that becomes a number, a boolean, an
 * enum value or a patterned string; the JSON Schema lets it, rather than flag a valid file.
 */
const ENV_REFERENCE: JsonSchema = {
  type: 'string',
  pattern: '\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}',
  description: `A value read from the environment when the file is loaded: \${VAR} or \${VAR:-default}.`,
};
const ENV_REFERENCE_REF: JsonSchema = { $ref: '#/definitions/envReference' };

/**
 * The JSON Schema of Herald's config file, for editors (yaml-language-server, VS Code's YAML
 * extension) to complete keys, show each key's description and flag mistakes as they are typed.
 * It describes the file as written (zod's `io: 'input'`): a value the loader converts, such as
 * `smtpPort: "587"`, is valid in it too. What zod checks in code (a URL's scheme, a duration's
 * range, templates, secrets) it cannot say: `herald validate` remains the full check.
 *
 * Draft-07, because yaml-language-server supports it fully, where its support of 2019-09 and
 * 2020-12 is partial.
 */
export function configJsonSchema(): JsonSchema {
  const schema = z.toJSONSchema(configFileSchema, {
    target: 'draft-07',
    io: 'input',
    // Everything in the schema has a JSON Schema form on the input side (transforms sit behind
    // pipes, refinements are left out). Something new that has none should fail the drift test,
    // and be given a form, rather than quietly become "anything".
    unrepresentable: 'throw',
    override: ({ zodSchema, jsonSchema }) => offerWrittenForms(zodSchema, jsonSchema),
  });
  return {
    $schema: schema.$schema,
    title: 'Herald configuration',
    description:
      "A Herald config file: FlyteAdmin's notifications block and Herald's own settings. Other top-level keys are ignored.",
    ...schema,
    definitions: { ...(schema.definitions as Record<string, JsonSchema> | undefined), envReference: ENV_REFERENCE },
  };
}

function offerWrittenForms(zodSchema: z.core.$ZodType, json: JsonSchema): void {
  const written = alsoWritten(zodSchema);
  const type = (zodSchema as z.core.$ZodTypes)._zod.def.type;
  if (written) offer(json, [written, ENV_REFERENCE_REF]);
  else if (type === 'enum' || (type === 'string' && json.pattern !== undefined)) offer(json, [ENV_REFERENCE_REF]);
}

/** The written forms registered for a schema, or for the one it was cloned from (by `.describe()`). */
function alsoWritten(schema: z.core.$ZodType | undefined): JsonSchema | undefined {
  for (let at = schema; at; at = at._zod.parent) {
    const forms = writtenForms.get(at);
    if (forms) return forms.alsoWritten;
  }
  return undefined;
}

/** Makes `json` accept the alternatives too, in place (zod's override must mutate). */
function offer(json: JsonSchema, alternatives: JsonSchema[]): void {
  const { description, ...own } = json;
  const keys = Object.keys(own);
  const branches = keys.length === 1 && own.anyOf ? [...own.anyOf] : [own];
  const { isDeepStrictEqual } = nodeUtil();
  for (const alternative of alternatives) {
    if (!branches.some((branch) => isDeepStrictEqual(branch, alternative))) branches.push(alternative);
  }
  for (const key of Object.keys(json)) delete json[key];
  json.anyOf = branches;
  if (description !== undefined) json.description = description;
}
