import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { GatewayError } from '../errors.ts'

/**
 * How deep a JSON body may nest. JSON.parse reads any depth, but code that walks a value recursively (the
 * cache key's canonical JSON, serializers) overflows its stack some thousands of levels down, which a
 * client could reach with a few kilobytes of `[`. No real request (tool schemas included) comes close.
 */
export const MAX_JSON_DEPTH = 128

/** Whether a parsed JSON value nests deeper than `limit`; iterative, so it cannot overflow itself. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: { value: unknown; depth: number }[] = [{ value, depth: 0 }]
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (next.value === null || typeof next.value !== 'object') continue
    if (next.depth >= limit) return true
    for (const child of Object.values(next.value)) pending.push({ value: child, depth: next.depth + 1 })
  }
  return false
}

/**
 * Fastify's JSON body parser (prototype and constructor poisoning refused), plus a depth limit: a body
 * nested deeper than MAX_JSON_DEPTH is a 400 before any route sees it.
 */
export const jsonBodyPlugin = fp(
  (app: FastifyInstance) => {
    const parse = app.getDefaultJsonParser('error', 'error')
    app.removeContentTypeParser('application/json')
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      void parse(request, body.toString(), (error, value) => {
        if (error !== null) return done(error, undefined)
        if (nestsDeeperThan(value, MAX_JSON_DEPTH)) return done(new GatewayError('invalid_request', `The JSON body nests deeper than ${MAX_JSON_DEPTH} levels`), undefined)
        done(null, value)
      })
    })
  },
  { name: 'supergate-json-body', fastify: '5.x' },
)
