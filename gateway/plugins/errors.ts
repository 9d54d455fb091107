import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance } from 'fastify'
import { ZodError } from 'zod'
import { DomainError } from '../control/decider.ts'
import { GatewayError } from '../errors.ts'

/** The control plane's rule violations, by kind: the message is written for the caller, so it is passed on. */
const DOMAIN_CODES: Record<DomainError['kind'], GatewayError['code']> = {
  invalid: 'invalid_request',
  not_found: 'not_found',
  conflict: 'conflict',
}

/** Fastify's own client errors, by code, and the stable code a client sees for each. */
const FASTIFY_CODES: Record<string, GatewayError['code']> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request',
  FST_ERR_CTP_INVALID_TYPE: 'unsupported_media_type',
}

export function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error
  if (error instanceof DomainError) return new GatewayError(DOMAIN_CODES[error.kind], error.message, error.param)
  if (error instanceof ZodError) {
    const issue = error.issues[0]
    if (issue?.code === 'unrecognized_keys') {
      const key = issue.keys[0] ?? ''
      const param = [...issue.path, key].join('.')
      return new GatewayError('invalid_request', `Unrecognized request argument supplied: ${param}`, param)
    }
    const param = issue === undefined || issue.path.length === 0 ? null : issue.path.join('.')
    const where = param === null ? '' : `'${param}': `
    return new GatewayError('invalid_request', `Invalid value for ${where}${issue?.message ?? 'invalid request'}`, param)
  }
  const fastifyError = error as Partial<FastifyError>
  const mapped = fastifyError.code === undefined ? undefined : FASTIFY_CODES[fastifyError.code]
  if (mapped !== undefined) return new GatewayError(mapped, fastifyError.message ?? 'Invalid request')
  if (fastifyError.validation !== undefined) {
    return new GatewayError('invalid_request', fastifyError.message ?? 'Invalid request')
  }
  const status = fastifyError.statusCode
  if (status !== undefined && status >= 400 && status < 500) {
    return new GatewayError('invalid_request', fastifyError.message ?? 'Invalid request')
  }
  if (status === 503) return new GatewayError('service_unavailable', 'The gateway is not serving requests right now')
  return new GatewayError('internal_error', 'The server had an error processing your request')
}

/** Answers every error and unknown route in the OpenAI error shape; a stack trace never reaches a client. */
export const errorsPlugin = fp(
  (app: FastifyInstance) => {
    app.setErrorHandler((error, request, reply) => {
      const gatewayError = toGatewayError(error)
      if (gatewayError.code === 'internal_error') request.log.error({ err: error }, 'request failed')
      if (gatewayError.headers !== undefined) void reply.headers(gatewayError.headers)
      if (gatewayError.retryAfterMs !== undefined) {
        void reply.header('retry-after', String(Math.max(1, Math.ceil(gatewayError.retryAfterMs / 1000))))
        void reply.header('retry-after-ms', String(Math.ceil(gatewayError.retryAfterMs)))
      }
      return reply.status(gatewayError.status).send(gatewayError.toBody())
    })
    app.setNotFoundHandler((request, reply) => {
      const error = new GatewayError('route_not_found', `Unknown route: ${request.method} ${request.url.split('?')[0]}`)
      return reply.status(error.status).send(error.toBody())
    })
  },
  { name: 'supergate-errors', fastify: '5.x' },
)
