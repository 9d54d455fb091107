import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { buildApp } from '../../gateway/app.ts'
import { PgSqlStore } from '../../infra/postgres/pg-sql-store.ts'
import { closeDependencies, openDependencies } from '../../gateway/dependencies.ts'
import type { Dependencies } from '../../gateway/dependencies.ts'
import { RedisRateLimiter } from '../../infra/redis/redis-rate-limiter.ts'
import { loadConfig } from '../../infra/config/config.ts'
import { createLogger } from '../../infra/telemetry/logger.ts'

function capturingLogger() {
  const lines: string[] = []
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString())
      callback()
    },
  })
  return { logger: createLogger({ level: 'info', destination }), lines }
}

describe('the gateway wired to the real services', () => {
  let deps: Dependencies

  beforeAll(async () => {
    const services = inject('services')
    const config = loadConfig({
      SUPERGATE_DATABASE_URL: services.databaseUrl,
      SUPERGATE_REDIS_URL: services.redisUrl,
      SUPERGATE_KAFKA_BROKERS: services.kafkaBrokers.join(','),
      ...(services.clickhouseUrl === undefined ? { SUPERGATE_DATA_DIR: ':memory:' } : { SUPERGATE_CLICKHOUSE_URL: services.clickhouseUrl }),
    })
    deps = await openDependencies(config, createLogger({ level: 'silent' }))
  })
  afterAll(async () => {
    await closeDependencies(deps)
  })

  it('reports every real dependency as up on /ready', async () => {
    const app = buildApp({ deps, logger: createLogger({ level: 'silent' }) })
    const response = await app.inject({ method: 'GET', url: '/ready' })
    expect(response.statusCode).toBe(200)
    const body = response.json<{ status: string; dependencies: Record<string, { adapter: string; status: string }> }>()
    expect(body.status).toBe('ready')
    expect(Object.fromEntries(Object.entries(body.dependencies).map(([k, v]) => [k, `${v.adapter}:${v.status}`]))).toEqual({
      sql: 'postgres:up',
      eventStore: 'postgres:up',
      eventLog: 'kafka:up',
      rateLimiter: 'redis:up',
      analytics: inject('services').clickhouseUrl === undefined ? 'chdb:up' : 'clickhouse:up',
    })
    await app.close()
  })

  it('stays ready but degraded on /ready while a dependency it serves without is down, saying how, without leaking its credentials', async () => {
    const broken = new RedisRateLimiter({ url: 'redis://:hunter2-secret@127.0.0.1:1' })
    const { logger, lines } = capturingLogger()
    const app = buildApp({ deps: { ...deps, rateLimiter: broken }, logger })
    const response = await app.inject({ method: 'GET', url: '/ready' })
    expect(response.statusCode).toBe(200)
    const body = response.json<{ status: string; dependencies: Record<string, { status: string; error?: string; degraded?: string }> }>()
    expect(body.status).toBe('degraded')
    expect(body.dependencies.rateLimiter).toMatchObject({ status: 'down', degraded: expect.stringContaining('fail_open') as unknown })
    expect(body.dependencies.sql?.status).toBe('up')
    expect(response.body).not.toContain('hunter2')
    expect(lines.join('')).not.toContain('hunter2')
    await app.close()
    await broken.close()
  })

  it('answers 503 on /ready while the SQL store is down, naming it, without leaking its credentials', async () => {
    const broken = new PgSqlStore({ url: 'postgres://supergate:hunter2-secret@127.0.0.1:1/supergate' })
    const app = buildApp({ deps: { ...deps, sql: broken }, logger: createLogger({ level: 'silent' }) })
    const response = await app.inject({ method: 'GET', url: '/ready' })
    expect(response.statusCode).toBe(503)
    const body = response.json<{ status: string; dependencies: Record<string, { status: string; degraded?: string }> }>()
    expect(body.status).toBe('not_ready')
    expect(body.dependencies.sql).toMatchObject({ status: 'down' })
    expect(body.dependencies.sql?.degraded).toBeUndefined()
    expect(response.body).not.toContain('hunter2')
    await app.close()
    await broken.close()
  })

  it('says it is draining once shutdown has begun', async () => {
    let draining = false
    const app = buildApp({ deps, logger: createLogger({ level: 'silent' }), isDraining: () => draining })
    expect((await app.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200)
    draining = true
    const response = await app.inject({ method: 'GET', url: '/ready' })
    expect(response.statusCode).toBe(503)
    expect(response.json<{ status: string }>().status).toBe('draining')
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200)
    await app.close()
  })
})
