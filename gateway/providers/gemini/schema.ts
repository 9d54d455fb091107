import type { GeminiFunctionDeclaration, GeminiSchema } from './wire.ts'

type JsonObject = Record<string, unknown>
type GeminiType = NonNullable<GeminiSchema['type']>

/**
 * JSON Schema (what OpenAI tools declare) → the OpenAPI 3.0 subset Gemini accepts in
 * FunctionDeclaration.parameters, where any key outside that subset is a 400 ("Unknown name …: Cannot find
 * field"). What is converted:
 *   - `type` upper-cased; `["T", "null"]` and `anyOf: [X, {type: "null"}]` → `nullable: true`;
 *     several non-null types → `anyOf`; `oneOf` → `anyOf`; `const` → a one-value `enum`; enum values → strings.
 *   - `$ref` to `#/$defs/…` or `#/definitions/…` inlined; `allOf` merged (properties, required, the rest first-wins).
 *   - `examples[0]` → `example`; a `format` Gemini does not know for that type moves into the description.
 * What is dropped (no equivalent in the subset; the model still sees names, types and descriptions):
 *   `additionalProperties`, `$schema`, `$id`, `$comment`, `$defs`/`definitions` (after inlining), `strict`,
 *   `patternProperties`, `propertyNames`, `unevaluatedProperties`, `dependentRequired`, `dependentSchemas`,
 *   `not`, `if`/`then`/`else`, `exclusiveMinimum`/`exclusiveMaximum`, `multipleOf`, `uniqueItems`, `contains`,
 *   `readOnly`, `writeOnly`, `deprecated`, `contentEncoding`, `contentMediaType`.
 * Schemas the subset cannot express at all (a free-form object with no properties below the root, a
 * recursive `$ref`, tuple `items`/`prefixItems`) go whole as `parametersJsonSchema`, which takes JSON Schema.
 */

class NotExpressible extends Error {}

const KNOWN_FORMATS: Partial<Record<GeminiType, readonly string[]>> = {
  STRING: ['enum', 'date-time'],
  NUMBER: ['float', 'double'],
  INTEGER: ['int32', 'int64'],
}

const TYPES: Record<string, GeminiType> = {
  string: 'STRING',
  number: 'NUMBER',
  integer: 'INTEGER',
  boolean: 'BOOLEAN',
  array: 'ARRAY',
  object: 'OBJECT',
  null: 'NULL',
}

const isObject = (value: unknown): value is JsonObject => value !== null && typeof value === 'object' && !Array.isArray(value)

function resolveRef(ref: string, root: JsonObject): JsonObject {
  const match = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref)
  const name = match?.[2]?.replace(/~1/g, '/').replace(/~0/g, '~')
  const defs = match === null ? undefined : root[match[1]!]
  const target = isObject(defs) && name !== undefined ? defs[name] : undefined
  if (!isObject(target)) throw new NotExpressible(`unresolvable $ref ${ref}`)
  return target
}

/** `allOf` as one schema: properties merged, required joined, any other key from the first that has it. */
function mergeAllOf(node: JsonObject, root: JsonObject): JsonObject {
  const { allOf, ...rest } = node
  if (!Array.isArray(allOf)) return node
  const merged: JsonObject = { ...rest }
  for (const raw of allOf) {
    if (!isObject(raw)) throw new NotExpressible('allOf member is not a schema')
    const sub = typeof raw.$ref === 'string' ? resolveRef(raw.$ref, root) : raw
    for (const [key, value] of Object.entries(sub)) {
      if (key === 'properties' && isObject(value)) merged.properties = { ...(isObject(merged.properties) ? merged.properties : {}), ...value }
      else if (key === 'required' && Array.isArray(value)) merged.required = [...(Array.isArray(merged.required) ? (merged.required as unknown[]) : []), ...(value as unknown[])]
      else if (!(key in merged)) merged[key] = value
    }
  }
  return merged
}

function typesOf(node: JsonObject): string[] {
  if (Array.isArray(node.type)) return node.type.filter((t): t is string => typeof t === 'string')
  if (typeof node.type === 'string') return [node.type]
  if (isObject(node.properties)) return ['object']
  if (node.items !== undefined) return ['array']
  return []
}

type NumericKey = 'minLength' | 'maxLength' | 'minimum' | 'maximum' | 'minItems' | 'maxItems' | 'minProperties' | 'maxProperties'

function copyNumber(from: JsonObject, to: GeminiSchema, key: NumericKey): void {
  const value = from[key]
  if (typeof value === 'number') to[key] = value
}

function convert(input: JsonObject, root: JsonObject, refs: readonly string[], isRoot: boolean): GeminiSchema {
  let node = input
  let path = refs
  if (typeof node.$ref === 'string') {
    if (refs.includes(node.$ref)) throw new NotExpressible('recursive $ref')
    const { $ref, ...siblings } = node
    node = { ...resolveRef($ref, root), ...siblings }
    path = [...refs, $ref]
  }
  node = mergeAllOf(node, root)
  const out: GeminiSchema = {}
  if (typeof node.title === 'string') out.title = node.title
  if (typeof node.description === 'string') out.description = node.description
  if ('default' in node) out.default = node.default
  if ('example' in node) out.example = node.example
  else if (Array.isArray(node.examples) && node.examples.length > 0) out.example = node.examples[0]
  if (node.nullable === true) out.nullable = true

  const branches = Array.isArray(node.anyOf) ? node.anyOf : Array.isArray(node.oneOf) ? node.oneOf : undefined
  if (branches !== undefined) {
    const nonNull = branches.filter((b) => !(isObject(b) && b.type === 'null'))
    if (nonNull.length < branches.length) out.nullable = true
    const converted = nonNull.map((b) => {
      if (!isObject(b)) throw new NotExpressible('anyOf member is not a schema')
      return convert(b, root, path, false)
    })
    // `Optional[X]` (X or null) is just X, nullable: no anyOf needed.
    if (converted.length === 1) return { ...converted[0], ...out }
    out.anyOf = converted
    return out
  }

  const types = typesOf(node)
  const nonNullTypes = types.filter((t) => t !== 'null')
  if (types.includes('null') && nonNullTypes.length > 0) out.nullable = true
  if (nonNullTypes.length > 1) {
    out.anyOf = nonNullTypes.map((t) => convert({ ...node, type: t, title: undefined, description: undefined }, root, path, false))
    return out
  }
  const type = TYPES[nonNullTypes[0] ?? (types.includes('null') ? 'null' : '')]
  if (type !== undefined) out.type = type

  const values = 'const' in node ? [node.const] : Array.isArray(node.enum) ? node.enum : undefined
  if (values !== undefined) {
    out.enum = values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)))
    out.type ??= 'STRING'
  }
  if (typeof node.format === 'string') {
    if (type !== undefined && KNOWN_FORMATS[type]?.includes(node.format)) out.format = node.format
    else out.description = `${out.description === undefined ? '' : `${out.description} `}(format: ${node.format})`
  }
  if (typeof node.pattern === 'string') out.pattern = node.pattern
  for (const key of ['minLength', 'maxLength', 'minimum', 'maximum', 'minItems', 'maxItems', 'minProperties', 'maxProperties'] as const) {
    copyNumber(node, out, key)
  }

  if (type === 'ARRAY') {
    if (Array.isArray(node.items) || node.prefixItems !== undefined) throw new NotExpressible('tuple arrays')
    if (isObject(node.items)) out.items = convert(node.items, root, path, false)
  }
  if (type === 'OBJECT') {
    const properties = isObject(node.properties) ? node.properties : {}
    if (Object.keys(properties).length === 0 && !isRoot) throw new NotExpressible('free-form object')
    if (Object.keys(properties).length > 0) {
      out.properties = {}
      for (const [name, sub] of Object.entries(properties)) {
        if (!isObject(sub)) throw new NotExpressible(`property ${name} is not a schema`)
        out.properties[name] = convert(sub, root, path, false)
      }
      const required = Array.isArray(node.required) ? node.required.filter((r): r is string => typeof r === 'string' && r in properties) : []
      if (required.length > 0) out.required = [...new Set(required)]
    }
  }
  return out
}

function withoutMeta(schema: JsonObject): JsonObject {
  const { $schema: _schema, ...rest } = schema
  return rest
}

/** The `parameters` (or, failing that, `parametersJsonSchema`) of a declaration; none for a tool without arguments. */
export function toGeminiParameters(schema: JsonObject | undefined): Pick<GeminiFunctionDeclaration, 'parameters' | 'parametersJsonSchema'> {
  if (schema === undefined) return {}
  const freeForm = schema.additionalProperties === true || isObject(schema.additionalProperties)
  try {
    const parameters = convert(schema, schema, [], true)
    if (parameters.type === 'OBJECT' && parameters.properties === undefined) {
      // An argument-less tool: Gemini rejects an OBJECT with no properties, and wants no parameters at all.
      if (!freeForm) return {}
      throw new NotExpressible('free-form arguments')
    }
    return { parameters }
  } catch (error) {
    if (error instanceof NotExpressible) return { parametersJsonSchema: withoutMeta(schema) }
    throw error
  }
}

/** A JSON Schema for responseJsonSchema, which takes JSON Schema as it is (only the meta-schema URI goes). */
export function toGeminiJsonSchema(schema: JsonObject): JsonObject {
  return withoutMeta(schema)
}
