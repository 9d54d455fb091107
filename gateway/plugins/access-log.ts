import type { FastifyInstance, FastifyRequest } from 'fastify'
import { levels } from 'pino'

/** Where a request's prompt can be: logged only with SUPERGATE_LOG_PROMPTS=on. */
const CALLS = new Set(['/v1/chat/completions', '/v1/messages', '/v1/embeddings'])

/** The path, and the query's names without their values: a client may put a secret in a query string. */
export function loggedUrl(url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return url
  const names = url.slice(q + 1).split('&').filter((p) => p !== '').map((p) => `${p.split('=', 1)[0]}=…`)
  return `${url.slice(0, q)}?${names.join('&')}`
}

function tenantOf(request: FastifyRequest): string | undefined {
  return request.principal?.tenantId
}

/**
 * One JSON line per request once it is answered (replacing Fastify's two): request id, method, path, status,
 * duration, and the tenant and key when the caller was authenticated. Registered only when the log level
 * shows `info`. With `logPrompts`, each model call's request body is logged too (`call body`); without it
 * (the default) no prompt reaches the logs, and the logger's redaction censors prompt fields as a second wall.
 */
export function accessLog(app: FastifyInstance, options: { logPrompts: boolean }): void {
  // `silent` and unknown levels count as above info.
  const showsInfo = (levels.values[app.log.level] ?? Infinity) <= levels.values.info!
  if (showsInfo) {
    const logged = new WeakSet<FastifyRequest>()
    const line = (request: FastifyRequest, status: number, ms?: number) => {
      if (logged.has(request)) return
      logged.add(request)
      const principal = request.principal
      request.log.info(
        {
          method: request.method,
          url: loggedUrl(request.url),
          status,
          ...(ms === undefined ? {} : { ms: Math.round(ms * 10) / 10 }),
          ...(principal === undefined ? {} : { tenantId: principal.tenantId, keyId: principal.keyId }),
        },
        'request',
      )
    }
    app.addHook('onResponse', (request, reply, done) => {
      line(request, reply.statusCode, reply.elapsedTime)
      done()
    })
    // A client gone before the answer ended (a stream it abandoned) gets no onResponse, whose 'finish' never
    // comes: its connection's close says so, logged as 499 as nginx does.
    app.addHook('onRequest', (request, reply, done) => {
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) line(request, 499)
      })
      done()
    })
  }
  if (options.logPrompts && showsInfo) {
    app.addHook('preHandler', (request, _reply, done) => {
      if (request.method === 'POST' && CALLS.has(request.url.split('?', 1)[0]!)) {
        // Logged under `prompted`, which the redaction leaves alone: `body` is censored wherever else it appears.
        request.log.info({ tenantId: tenantOf(request), prompted: request.body }, 'call body')
      }
      done()
    })
  }
}
