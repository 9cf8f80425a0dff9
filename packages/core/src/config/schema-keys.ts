import * as z from 'zod';
import { isMapping } from './tree.js';

/**
 * The keys a schema knows for the mapping at `path` of `input` (the value being validated):
 * looking through wrappers (optional, default, nullable, pipe…), into lists and maps, and, for
 * a discriminated union, into the branch the value's discriminator picks (a Slack channel's
 * keys for `type: slack`). Empty where the schema has no fixed keys.
 */
export function knownKeysAt(schema: z.core.$ZodType, input: unknown, path: readonly PropertyKey[]): string[] {
  const keys = objectsAt(schema, input, path).flatMap((object) => Object.keys(object._zod.def.shape));
  return [...new Set(keys)];
}

function objectsAt(schema: z.core.$ZodType, value: unknown, path: readonly PropertyKey[]): z.core.$ZodObject[] {
  const typed = schema as z.core.$ZodTypes;
  const def = typed._zod.def;
  const [key, ...rest] = path;
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'nonoptional':
    case 'readonly':
    case 'catch':
      return objectsAt(def.innerType, value, path);
    case 'lazy':
      return objectsAt(def.getter(), value, path);
    case 'pipe':
      // A preprocess pipe (`in` a transform) validates with its `out` side.
      return objectsAt(def.in._zod.def.type === 'transform' ? def.out : def.in, value, path);
    case 'union':
      return branches(def, value).flatMap((option) => objectsAt(option, value, path));
    case 'intersection':
      return [...objectsAt(def.left, value, path), ...objectsAt(def.right, value, path)];
    case 'object': {
      if (key === undefined) return [typed as z.core.$ZodObject];
      const field = typeof key === 'string' ? def.shape[key] : undefined;
      return field ? objectsAt(field, childOf(value, key), rest) : [];
    }
    case 'record':
      return key === undefined ? [] : objectsAt(def.valueType, childOf(value, key), rest);
    case 'array':
      return typeof key === 'number' ? objectsAt(def.element, childOf(value, key), rest) : [];
    default:
      return [];
  }
}

/** A union's branches that `value` can be: for a discriminated union, those its discriminator picks. */
function branches(def: z.core.$ZodUnionDef, value: unknown): readonly z.core.$ZodType[] {
  const discriminator = (def as Partial<z.core.$ZodDiscriminatedUnionDef>).discriminator;
  if (discriminator === undefined || !isMapping(value)) return def.options;
  const picked = def.options.filter((option) => {
    const optionDef = (option as z.core.$ZodTypes)._zod.def;
    const field = optionDef.type === 'object' ? optionDef.shape[discriminator] : undefined;
    return field !== undefined && z.safeParse(field, value[discriminator]).success;
  });
  // A discriminator no branch takes has its own error; every branch's keys are then candidates.
  return picked.length > 0 ? picked : def.options;
}

function childOf(value: unknown, key: PropertyKey): unknown {
  if (Array.isArray(value) && typeof key === 'number') return value[key];
  return isMapping(value) && typeof key === 'string' ? value[key] : undefined;
}
