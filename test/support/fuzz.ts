import fc from 'fast-check'
import { expect } from 'vitest'
import { ERROR_CODES } from '../../gateway/errors.ts'

/**
 * Hostile input for the fuzz tests (test/fault/fuzz-*.fault.test.ts): arbitraries for bodies, query strings
 * and headers, the properties every response must keep, and a tally of what was sent and answered.
 */

/**
 * A token written into the JSON text as it is, so the generated value stays small to print and to copy:
 * `1e400` parses to Infinity and `-0` stays -0; `huge` is a 10 MB string; `deep:array:N` N nested arrays.
 */
const RAW = '\u0000raw:'
const raw = (token: string) => `${RAW}${token}`

/** 10 MB: big, yet under the 32 MiB body limit, so it reaches validation and the handlers. */
const HUGE_STRING_JSON = `"${'x'.repeat(10 * 1024 * 1024)}"`

function expand(token: string): string {
  if (token === 'huge') return HUGE_STRING_JSON
  const deep = /^deep:(array|object):(\d+)$/.exec(token)
  if (deep === null) return token
  const depth = Number(deep[2])
  return deep[1] === 'array' ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`
}

/** The JSON text of a value, its raw tokens written out. */
export function toJsonText(value: unknown): string {
  return (JSON.stringify(value) ?? 'null').replace(/"\\u0000raw:([^"]*)"/g, (_all, token: string) => expand(token))
}

/** A value nested `depth` levels deep, as a raw token: recursive code over a body overflows its stack on it. */
export const nested = (depth: number, kind: 'array' | 'object' = 'array'): string => raw(`deep:${kind}:${depth}`)

const deepJson: fc.Arbitrary<unknown> = fc.tuple(fc.constantFrom(100, 1_000, 10_000), fc.constantFrom('array' as const, 'object' as const)).map(([d, k]) => nested(d, k))

/** Keys that pollute a prototype when a parser or a merge copies them carelessly. */
export const POISON_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty']

export const hostileNumber: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(0, -1, 1, 1.5, -1.5, 0.1, 2 ** 31, -(2 ** 31) - 1, 2 ** 32, 2 ** 53, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, 1e21, 1e308, -1e308, 5e-324),
  fc.constantFrom(raw('1e400'), raw('-1e400'), raw('-0'), raw('1.0'), raw('1E2'), raw('123456789012345678901234567890'), raw('0.0000000000000000000001')),
  fc.constantFrom('NaN', 'Infinity', '-1', '1e3', '0x10', '', ' 1 ', '١٢'),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
)

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 10, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 3, arbitrary: fc.constantFrom('\u0000', 'a\u0000b', '\ud800', 'x\udfff', '\udfff\ud800') },
  { weight: 4, arbitrary: fc.constantFrom(...POISON_KEYS, '../../etc/passwd', '%00', '%2e%2e%2f', '${jndi:ldap://x}', "' OR 1=1 --", '<script>alert(1)</script>', 'a\r\nx-injected: 1', '\u202e', 'e\u0301', '🙂'.repeat(50)) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 200, maxLength: 5_000 }) },
  { weight: 1, arbitrary: fc.constant(raw('huge')) },
)

const key = fc.oneof({ weight: 6, arbitrary: fc.string({ maxLength: 12 }) }, { weight: 2, arbitrary: fc.constantFrom(...POISON_KEYS) }, { weight: 1, arbitrary: hostileString })

/** Any JSON value, built from hostile leaves, prototype-polluting keys and some depth. */
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    hostileNumber,
    hostileString,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(key, tie('value'), { maxKeys: 5 }),
  ),
})).value

/** Every path into a JSON value, the root ([]) included. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out = [prefix]
  if (Array.isArray(value)) value.forEach((item, i) => out.push(...paths(item, [...prefix, i])))
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]))
  return out
}

/** A copy of `root` along `path` only (deep values are shared, never walked), then `change` at its end. */
function setAt(root: unknown, path: readonly (string | number)[], change: (parent: Record<string, unknown> | unknown[], key: string | number) => void): unknown {
  const copy = (value: unknown) => (Array.isArray(value) ? (value as unknown[]).slice() : { ...(value as object) }) as Record<string | number, unknown>
  const top = copy(root)
  let parent = top
  for (const step of path.slice(0, -1)) {
    parent[step] = copy(parent[step])
    parent = parent[step] as Record<string | number, unknown>
  }
  change(parent, path.at(-1)!)
  return top
}

type Mutation = { kind: 'replace'; value: unknown } | { kind: 'delete' } | { kind: 'add'; key: string; value: unknown } | { kind: 'wrap' }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 5, arbitrary: hostileJson.map((value) => ({ kind: 'replace' as const, value })) },
  { weight: 2, arbitrary: fc.constant({ kind: 'delete' as const }) },
  { weight: 3, arbitrary: fc.tuple(key, hostileJson).map(([k, value]) => ({ kind: 'add' as const, key: k, value })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'wrap' as const }) },
  { weight: 1, arbitrary: deepJson.map((value) => ({ kind: 'replace' as const, value })) },
)

function apply(root: unknown, path: readonly (string | number)[], m: Mutation): unknown {
  if (path.length === 0) {
    if (m.kind === 'replace') return m.value
    if (m.kind === 'wrap') return [root]
    if (m.kind === 'add' && root !== null && typeof root === 'object' && !Array.isArray(root)) return Object.defineProperty({ ...root }, m.key, { value: m.value, enumerable: true, writable: true, configurable: true })
    return root
  }
  return setAt(root, path, (parent, k) => {
    const slot = parent as Record<string | number, unknown>
    if (m.kind === 'replace') slot[k] = m.value
    else if (m.kind === 'wrap') slot[k] = [slot[k]]
    else if (m.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(k), 1)
      else delete slot[k]
    } else {
      const target = slot[k]
      if (target === null || typeof target !== 'object' || Array.isArray(target)) slot[k] = m.value
      else {
        // defineProperty: an own `__proto__` key, as JSON.parse makes it, not a prototype change.
        slot[k] = Object.defineProperty({ ...target }, m.key, { value: m.value, enumerable: true, writable: true, configurable: true })
      }
    }
  })
}

/** Mutations copy what they change: a frozen seed stays valid for every run after. */
function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return
  Object.freeze(value)
  for (const item of Object.values(value)) deepFreeze(item)
}

/** A valid value with one to three fields replaced, deleted, added or wrapped: it gets past the first checks. */
export function nearValid(valid: unknown): fc.Arbitrary<unknown> {
  deepFreeze(valid)
  const all = paths(valid)
  const step = fc.tuple(fc.constantFrom(...all), mutation)
  return fc.array(step, { minLength: 1, maxLength: 3 }).map((steps) => {
    let value = valid
    for (const [path, m] of steps) {
      try {
        value = apply(value, path, m)
      } catch {
        // An earlier step removed this path: the step does nothing.
      }
    }
    return value
  })
}

/** A JSON body: mostly near-valid, sometimes anything at all. */
export function bodyFor(valid: unknown): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 3, arbitrary: nearValid(valid) }, { weight: 1, arbitrary: hostileJson }, { weight: 1, arbitrary: fc.anything() })
}

/** A header value as Node hands it over: Latin-1 text (UTF-8 bytes arrive as such), no CR, LF or NUL. */
export const headerValue: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c)), maxLength: 60 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }).map((s) => Buffer.from(s, 'utf8').toString('latin1')),
  fc.constantFrom('', ' ', 'Bearer', 'Bearer ', 'Bearer  x', 'bearer x', 'Basic YWRtaW46YWRtaW4=', 'a'.repeat(8_000), 'application/json; charset=utf-16', 'text/plain', 'application/x-www-form-urlencoded', '*/*'),
)

/** Percent-encodes the UTF-8 bytes of a string (a lone surrogate as U+FFFD), where encodeURIComponent throws. */
export function percentEncode(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`)).join('')
}

/** A query string from junk: names and values percent-encoded or raw, repeated, poisoned. */
export const queryString: fc.Arbitrary<string> = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom(...POISON_KEYS, 'limit', 'from', 'to', 'format', 'after', 'groupBy', 'period', 'a[b]', 'a[]'), fc.string({ maxLength: 8 })), fc.oneof(hostileString.filter((s) => s.length < 2_000), hostileNumber.map(String))), { maxLength: 4 })
  .chain((pairs) =>
    fc.boolean().map((encode) => pairs.map(([k, v]) => (encode ? `${percentEncode(k)}=${percentEncode(v)}` : `${k.replace(/[#\s]/g, '')}=${v.replace(/[#\s]/g, '')}`)).join('&')),
  )

/** A path segment: junk, prototype keys, traversal, bad and double percent-encoding. */
export const pathSegment: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).map(percentEncode),
  fc.constantFrom(...POISON_KEYS, '..', '%2e%2e', '%2F', 'a%00b', '%ff', '%', '%25', '%25zz', '%2525', '%zz', 'a'.repeat(65), 'a'.repeat(500), 'tenant', 'project:x', 'key:%00', '*'),
)

export type ErrorShape = 'openai' | 'anthropic'

export interface Answer {
  statusCode: number
  headers: Record<string, unknown>
  body: string
}

const STACK_FRAME = /\bat (?:[\w$.<>[\] ]+ \()?(?:file:\/\/|node:|\/)[^\s)]*:\d+:\d+/
const SERVER_PATHS = /\/work\/|node_modules|\/home\/|\/usr\/lib\/node/

/**
 * What every answer to hostile input must be: no 5xx, an error in the API's shape for any 4xx, no stack
 * trace or server path, and none of the gateway's secrets in its body or headers.
 */
export function expectSafe(answer: Answer, shape: ErrorShape, secrets: readonly string[], what: string, options: { head?: boolean } = {}): void {
  const context = `${what} → ${answer.statusCode} ${answer.body.slice(0, 500)}`
  expect(answer.statusCode, context).toBeLessThan(500)
  const headerText = JSON.stringify(answer.headers)
  for (const secret of secrets) {
    expect(answer.body.includes(secret), `${context}: a secret in the body`).toBe(false)
    expect(headerText.includes(secret), `${context}: a secret in the headers`).toBe(false)
  }
  expect(STACK_FRAME.test(answer.body), `${context}: a stack frame in the body`).toBe(false)
  expect(SERVER_PATHS.test(answer.body), `${context}: a server path in the body`).toBe(false)
  for (const [name, value] of Object.entries(answer.headers)) expect(String(value), `${context}: header ${name}`).not.toMatch(/[\r\n\0]/)
  // A HEAD answer has no body by definition.
  if (answer.statusCode >= 400 && options.head !== true) expectErrorShape(answer, shape, context)
}

function expectErrorShape(answer: Answer, shape: ErrorShape, context: string): void {
  expect(String(answer.headers['content-type']), context).toMatch(/^application\/json/)
  const body = JSON.parse(answer.body) as Record<string, unknown>
  if (shape === 'anthropic') {
    const error = body.error as { type?: unknown; message?: unknown } | undefined
    expect([body.type, typeof error?.type, typeof error?.message], context).toEqual(['error', 'string', 'string'])
    return
  }
  expect(Object.keys(body), context).toEqual(['error'])
  const error = body.error as { message: unknown; type: unknown; param: unknown; code: unknown }
  expect(Object.keys(error).sort(), context).toEqual(['code', 'message', 'param', 'type'])
  expect(typeof error.message, context).toBe('string')
  expect(error.param === null || typeof error.param === 'string', context).toBe(true)
  const spec = ERROR_CODES[error.code as keyof typeof ERROR_CODES] as { status: number; type: string } | undefined
  expect(spec, `${context}: an undocumented error code`).toBeDefined()
  expect(error.type, context).toBe(spec!.type)
  expect(answer.statusCode, context).toBe(spec!.status)
}

/** How many inputs each endpoint got, and what it answered: the numbers of the closing note. */
export class FuzzTally {
  readonly #byEndpoint = new Map<string, Map<number, number>>()

  record(endpoint: string, status: number): void {
    const statuses = this.#byEndpoint.get(endpoint) ?? new Map<number, number>()
    statuses.set(status, (statuses.get(status) ?? 0) + 1)
    this.#byEndpoint.set(endpoint, statuses)
  }

  summary(title: string): string {
    const lines = [...this.#byEndpoint].map(([endpoint, statuses]) => {
      const total = [...statuses.values()].reduce((a, b) => a + b, 0)
      const fivexx = [...statuses].filter(([s]) => s >= 500).reduce((a, [, n]) => a + n, 0)
      const histogram = [...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}: ${n}`).join(', ')
      return `[fuzz] ${endpoint}: ${total} inputs, ${fivexx} × 5xx, statuses {${histogram}}`
    })
    const total = [...this.#byEndpoint.values()].flatMap((s) => [...s.values()]).reduce((a, b) => a + b, 0)
    return [`[fuzz] ${title}: ${total} inputs over ${this.#byEndpoint.size} endpoints`, ...lines].join('\n')
  }
}
