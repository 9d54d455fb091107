import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ZodError } from 'zod'
import { DomainError } from '../control/decider.ts'
import { GatewayError } from '../errors.ts'
import { SqlUnavailableError } from '../../infra/postgres/sql-store.ts'
import { AnalyticsUnavailableError } from '../../analytics/unavailable-analytics-store.ts'

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
  // The database is away (restarting, unreachable): a retry will do, and its address stays out of the answer.
  if (error instanceof SqlUnavailableError) return new GatewayError('service_unavailable', 'The database is unavailable; retry shortly')
  if (error instanceof AnalyticsUnavailableError) return new GatewayError('service_unavailable', error.message)
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
      if (gatewayError.code === 'internal_error') request.log.error({ err: error, tenantId: request.principal?.tenantId }, 'request failed')
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

/**
 * Fastify's `frameworkErrors`: what its router refuses before any route or hook runs (a path that does not
 * percent-decode, such as `/v1/models/%`), in the OpenAI shape rather than Fastify's own.
 */
export function answerFrameworkError(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const gatewayError = toGatewayError(error)
  void reply.status(gatewayError.status).send(gatewayError.toBody())
}

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP parser refuses before a request exists (bytes that are
 * not HTTP, headers too large, a request not received within the request timeout). Answered in the OpenAI
 * shape, then the connection is closed, as Node and Fastify do by default.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const gatewayError =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new GatewayError('request_timeout', 'The request was not received in time')
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? new GatewayError('headers_too_large', 'The request headers are too large')
        : new GatewayError('invalid_request', 'The request is not valid HTTP')
  if (socket.writable) {
    const body = JSON.stringify(gatewayError.toBody())
    const head = [`HTTP/1.1 ${gatewayError.status} ${STATUS_CODES[gatewayError.status]}`, 'Connection: close', 'Content-Type: application/json; charset=utf-8', `Content-Length: ${Buffer.byteLength(body)}`]
    socket.write(`${head.join('\r\n')}\r\n\r\n${body}`)
  }
  socket.destroy(error)
}
