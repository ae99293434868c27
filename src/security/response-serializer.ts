import type { FastifySerializerCompiler } from 'fastify';
import { ResponseSerializationError } from 'fastify-type-provider-zod';
import { $ZodType, safeEncode, safeParse } from 'zod/v4/core';

/**
 * Schema kinds whose two directions differ: a transform, codec or pipe maps input and output
 * differently, a default or catch fills a value only when parsing, `success` turns a value into
 * a boolean when parsing and refuses to encode, a promise is async. A response schema
 * containing one must be encoded (zod's backward direction).
 */
const DIRECTIONAL = new Set(['pipe', 'transform', 'default', 'prefault', 'catch', 'success', 'promise', 'function']);

/** Kinds with no inner schema: the same in both directions (their checks run in both). */
const LEAVES = new Set([
  'string', 'number', 'int', 'boolean', 'bigint', 'symbol', 'null', 'undefined', 'void', 'never', 'any', 'unknown',
  'date', 'nan', 'literal', 'enum', 'template_literal', 'file', 'custom',
]);

interface Def {
  readonly type: string;
  readonly [key: string]: unknown;
}

function defOf(schema: $ZodType): Def {
  return schema._zod.def as unknown as Def;
}

/** The schemas directly inside `def`, by kind; `undefined` for a kind this walk does not know. */
function children(def: Def): unknown[] | undefined {
  switch (def.type) {
    case 'object': return [...Object.values(def.shape as Record<string, unknown>), def.catchall];
    case 'array': return [def.element];
    case 'set': return [def.valueType];
    case 'record':
    case 'map': return [def.keyType, def.valueType];
    case 'tuple': return [...(def.items as unknown[]), def.rest];
    case 'union': return [...(def.options as unknown[])];
    case 'intersection': return [def.left, def.right];
    case 'optional':
    case 'nullable':
    case 'nonoptional':
    case 'readonly': return [def.innerType];
    case 'lazy': return [(def.getter as () => unknown)()];
    default: return LEAVES.has(def.type) ? [] : undefined;
  }
}

/**
 * Whether parsing `schema` gives exactly what encoding it would: no directional kind anywhere
 * inside, and every kind known. Unknown kinds count as directional, so a new zod kind falls
 * back to encoding (slower, never wrong).
 */
export function parsesAsItEncodes(schema: $ZodType, seen: Set<$ZodType> = new Set()): boolean {
  if (seen.has(schema)) return true;
  seen.add(schema);
  const def = defOf(schema);
  if (DIRECTIONAL.has(def.type)) return false;
  const inner = children(def);
  if (inner === undefined) return false;
  return inner.every((child) => child === undefined || (child instanceof $ZodType && parsesAsItEncodes(child, seen)));
}

function resolveSchema(schema: unknown): $ZodType {
  if (schema instanceof $ZodType) return schema;
  if (typeof schema === 'object' && schema !== null && 'properties' in schema && schema.properties instanceof $ZodType) return schema.properties;
  throw new TypeError('a response schema must be a zod schema');
}

/**
 * Response serialization from the route's zod schema, as fastify-type-provider-zod does it:
 * the answer is checked against the schema, only the declared fields are kept, and a value
 * that does not fit is a 500 (`ResponseSerializationError`), never sent. The difference is
 * speed: zod's encode (backward) direction runs a canary pass and copies its context at every
 * node, about twenty times the cost of a parse, which zod compiles to straight-line code. For
 * a schema without transforms, codecs or defaults (nearly all of them) both directions give
 * the same value, so it is parsed; any other is encoded as before.
 */
export const responseSerializerCompiler: FastifySerializerCompiler<unknown> = ({ schema: maybeSchema, method, url }) => {
  const schema = resolveSchema(maybeSchema);
  const check = parsesAsItEncodes(schema) ? safeParse : safeEncode;
  return (data: unknown) => {
    const result = check(schema, data);
    if (!result.success) throw new ResponseSerializationError(method, url, { cause: result.error });
    return JSON.stringify(result.data);
  };
};
