import type { z } from 'zod'
import { GatewayError } from '../../../errors.ts'

/** A request Anthropic itself would reject: 400 `invalid_request`, `param` as Anthropic spells paths (`messages.0.content`). */
export function invalidRequest(param: string | null, message: string): GatewayError {
  return new GatewayError('invalid_request', param === null ? message : `${param}: ${message}`, param)
}

/**
 * A request Anthropic accepts but the gateway cannot carry to the provider it routes to: 400
 * `unsupported_parameter` naming the field, never a silent drop.
 */
export function unsupportedField(param: string, why: string): GatewayError {
  return new GatewayError('unsupported_parameter', `${param} is not supported by this gateway's Messages endpoint: ${why}`, param)
}

/** Parses `value` with `schema`; the first issue becomes an `invalid_request` naming its path under `prefix`. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, prefix: string): z.infer<S> {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const { issue, path: issuePath } = innermost(result.error.issues[0]!, [])
  const path = [prefix, ...issuePath].filter((p) => p !== '').join('.')
  if (issue.code === 'unrecognized_keys') {
    // Anthropic's own wording for an unknown field, so the same client code recognises it.
    const param = [path, issue.keys[0]].filter((p) => p !== '').join('.')
    throw invalidRequest(param, 'Extra inputs are not permitted')
  }
  const message = issue.message.endsWith('received undefined') ? 'Field required' : issue.message
  throw invalidRequest(path === '' ? null : path, message)
}

/**
 * A union's issue ("Invalid input" at `messages.0.content`) hides the real one: follow the branch that got
 * furthest into the value, so the error names `messages.0.content.2.source.media_type`.
 */
function innermost(issue: z.core.$ZodIssue, path: string[]): { issue: z.core.$ZodIssue; path: string[] } {
  const here = [...path, ...issue.path.map(String)]
  if (issue.code !== 'invalid_union') return { issue, path: here }
  const firsts = issue.errors.map((branch) => branch[0]).filter((i) => i !== undefined)
  const furthest = firsts.reduce<z.core.$ZodIssue | undefined>((best, i) => (best === undefined || i.path.length > best.path.length ? i : best), undefined)
  if (furthest === undefined || furthest.path.length === 0) return { issue, path: here }
  return innermost(furthest, here)
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
