import { describe, expect, it } from 'vitest'
import { parseRole, roleParts, roleProblems, UnknownRoleError } from './roles.ts'

const config = { projections: true, outboxRelay: true, clickhouseUrl: undefined }

describe('process roles', () => {
  it('runs everything in one process when no role is named', () => {
    expect(parseRole([])).toBe('all')
    expect(roleParts('all', config)).toEqual({ api: true, projections: true, sink: true, relay: true, analytics: true })
  })

  it('refuses an unknown role, naming the ones there are', () => {
    expect(() => parseRole(['gatway'])).toThrow(UnknownRoleError)
    expect(() => parseRole(['gatway'])).toThrow('expected one of all, gateway, projections, sink')
  })

  it('splits the work so that each part runs in exactly one kind of process', () => {
    const split = (['gateway', 'projections', 'sink'] as const).map((role) => roleParts(role, config))
    for (const part of ['api', 'projections', 'sink', 'relay'] as const) expect(split.filter((p) => p[part]).length, part).toBe(1)
  })

  it('opens embedded chdb in the sink only; a ClickHouse server in the gateways too', () => {
    expect(roleParts('gateway', config).analytics).toBe(false)
    expect(roleParts('projections', config).analytics).toBe(false)
    expect(roleParts('sink', config).analytics).toBe(true)
    expect(roleParts('gateway', { ...config, clickhouseUrl: 'http://clickhouse:8123' }).analytics).toBe(true)
  })

  it('keeps SUPERGATE_PROJECTIONS and SUPERGATE_OUTBOX_RELAY for a process that runs everything', () => {
    expect(roleParts('all', { ...config, projections: false, outboxRelay: false })).toMatchObject({ projections: false, sink: false, relay: false })
    expect(roleParts('projections', { ...config, outboxRelay: false }).relay).toBe(false)
  })

  it('refuses a split role without the deployment’s PostgreSQL, and warns a gateway without Redis', () => {
    expect(roleProblems('all', { databaseUrl: undefined, redisUrl: undefined })).toEqual({ errors: [], warnings: [] })
    expect(roleProblems('sink', { databaseUrl: undefined, redisUrl: undefined }).errors[0]).toMatch(/SUPERGATE_DATABASE_URL/)
    expect(roleProblems('gateway', { databaseUrl: 'postgres://db/x', redisUrl: undefined })).toMatchObject({ errors: [], warnings: [expect.stringMatching(/SUPERGATE_REDIS_URL/) as unknown] })
    expect(roleProblems('gateway', { databaseUrl: 'postgres://db/x', redisUrl: 'redis://r' })).toEqual({ errors: [], warnings: [] })
  })
})
