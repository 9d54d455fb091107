import type { FastifyInstance } from 'fastify'

export interface DependencyCheck {
  name: string
  adapter: string
  check(): Promise<void>
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

/** `/health`: the process is alive. `/ready`: every dependency answers, so this process can serve traffic. */
export function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions): void {
  const timeoutMs = options.checkTimeoutMs ?? 2_000
  app.get('/health', () => ({ status: 'ok' }))
  app.get('/ready', async (_request, reply) => {
    const states = await Promise.all(options.dependencies.map((d) => probe(d, timeoutMs)))
    const dependencies = Object.fromEntries(options.dependencies.map((d, i) => [d.name, states[i]]))
    const allUp = states.every((s) => s.status === 'up')
    const status = options.isDraining() ? 'draining' : allUp ? 'ready' : 'not_ready'
    return reply.status(status === 'ready' ? 200 : 503).send({ status, dependencies })
  })
}
