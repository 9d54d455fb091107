import { describe, expect, it } from 'vitest'
import { periodStart, spendScopes } from './budgets-projection.ts'

describe('budget periods', () => {
  it('uses the UTC day and month, whatever the offset the time was written with', () => {
    const lateEvening = new Date('2026-03-31T23:30:00-05:00')
    expect(periodStart(lateEvening, 'day')).toBe('2026-04-01')
    expect(periodStart(lateEvening, 'month')).toBe('2026-04-01')
    const justBefore = new Date('2026-03-31T23:59:59.999Z')
    expect(periodStart(justBefore, 'day')).toBe('2026-03-31')
    expect(periodStart(justBefore, 'month')).toBe('2026-03-01')
  })

  it('counts spend towards the tenant, and the project and key when the request had them', () => {
    expect(spendScopes('p1', 'k1')).toEqual(['tenant', 'project:p1', 'key:k1'])
    expect(spendScopes(null, 'k1')).toEqual(['tenant', 'key:k1'])
    expect(spendScopes(undefined, null)).toEqual(['tenant'])
  })
})
