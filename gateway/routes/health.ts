import type { FastifyInstance } from 'fastify'

export interface DependencyCheck {
  name: string
  adapter: string
  check(): Promise<void>
  /**
   * Why the process still serves while this is down (the spool, the tenant's limiter policy, a lagging sink):
   * /ready then says `degraded` with 200, so that a load balancer keeps it. Absent: the process cannot serve
   * without it, and /ready answers 503.
   */
  degradable?: string
}

export interface HealthRoutesOptions {
  dependencies: readonly DependencyCheck[]
  /** True once shutdown has begun: load balancers should stop sending requests. */
  isDraining(): boolean
  checkTimeoutMs?: number
}

interface DependencyState {
  adapter: string
  status: 'up' | 'down'
  latencyMs: number
  error?: string
  /** A dependency down that the process serves without, and how. */
  degraded?: string
}

async function probe(dep: DependencyCheck, timeoutMs: number): Promise<DependencyState> {
  const started = performance.now()
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      dep.check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
      }),
    ])
    return { adapter: dep.adapter, status: 'up', latencyMs: Math.round(performance.now() - started) }
  } catch (error) {
    return {
      adapter: dep.adapter,
      status: 'down',
      latencyMs: Math.round(performance.now() - started),
      error: redactUrls(error instanceof Error ? error.message : String(error)),
    }
  } finally {
    clearTimeout(timer)
  }
}

/** Driver messages can quote a connection string; its credentials must not reach a probe's caller. */
export function redactUrls(message: string): string {
  return message.replace(/([a-z][a-z0-9+.-]*:\/\/)[^@\s/]*@/gi, '$1[redacted]@')
}

/**
 * `/health`: the process is alive. `/ready`: it can serve traffic: 200 `ready` when every dependency answers,
 * 200 `degraded` when only those it serves without are down (each says how), 503 `not_ready` when one it needs
 * is down, 503 `draining` once shutdown has begun.
 */
export function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions): void {
  const timeoutMs = options.checkTimeoutMs ?? 2_000
  app.get('/health', () => ({ status: 'ok' }))
  app.get('/ready', async (_request, reply) => {
    const states = await Promise.all(options.dependencies.map((d) => probe(d, timeoutMs)))
    const dependencies = Object.fromEntries(
      options.dependencies.map((d, i) => {
        const state = states[i]!
        return [d.name, state.status === 'down' && d.degradable !== undefined ? { ...state, degraded: d.degradable } : state]
      }),
    )
    const down = options.dependencies.filter((_, i) => states[i]!.status === 'down')
    const status = options.isDraining() ? 'draining' : down.length === 0 ? 'ready' : down.every((d) => d.degradable !== undefined) ? 'degraded' : 'not_ready'
    return reply.status(status === 'ready' || status === 'degraded' ? 200 : 503).send({ status, dependencies })
  })
}
