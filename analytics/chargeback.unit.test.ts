import { describe, expect, it } from 'vitest'
import { chargebackSql, rollupFor } from './chargeback.ts'

describe('which rollup a report reads', () => {
  it.each([
    [['project'], 'usage_daily'],
    [['project', 'model'], 'usage_daily'],
    [['day', 'key'], 'usage_daily'],
    [['user'], 'usage_daily_users'],
    [['day', 'user', 'project'], 'usage_daily_users'],
    [['hour'], 'usage_hourly'],
    [['hour', 'model'], 'usage_hourly'],
    [['user', 'model'], undefined],
    [['hour', 'user'], undefined],
  ] as const)('%j → %s', (groupBy, table) => {
    expect(rollupFor(groupBy)).toBe(table)
  })

  it('reads whole days from the rollup and only the ragged ends from the facts', () => {
    const { sql, params } = chargebackSql({ tenantId: 't', from: new Date('2026-03-01T09:30:00Z'), to: new Date('2026-03-04T12:00:00Z'), groupBy: ['project'] })
    expect(sql).toContain('FROM usage_daily')
    expect(params).toMatchObject({ r0: '2026-03-02', r1: '2026-03-04', m0: '2026-03-02 00:00:00.000', m1: '2026-03-04 00:00:00.000' })
  })

  it('leaves a range with no whole day to the facts', () => {
    const { sql, params } = chargebackSql({ tenantId: 't', from: new Date('2026-03-01T09:30:00Z'), to: new Date('2026-03-01T12:00:00Z'), groupBy: ['model'] })
    expect(sql).not.toContain('usage_daily')
    expect(params.m0).toBe(params.m1)
  })
})
