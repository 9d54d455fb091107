import { describe, expect, it } from 'vitest'
import { alertPeriodStart, evaluateRule } from './alerts-projection.ts'
import type { AlertPeriod, AlertRule } from './alerts-projection.ts'

const counters = (micro: Partial<Record<AlertPeriod, number>>) => (period: AlertPeriod) => ({ start: `start-${period}`, micro: micro[period] ?? 0 })
const rule = (r: Partial<AlertRule>): AlertRule => ({ kind: 'absolute_spend', scope: 'tenant', threshold: 1000, period: 'day', webhookUrl: null, ...r })

describe('alert rules', () => {
  it('fires a budget percentage at exactly the threshold, not a micro-USD before, and never without a budget', () => {
    const r80 = rule({ kind: 'budget_percent', threshold: 80, period: 'month' })
    expect(evaluateRule(r80, counters({ month: 799_999 }), 1_000_000)).toBeNull()
    expect(evaluateRule(r80, counters({ month: 800_000 }), 1_000_000)).toEqual({ periodStart: 'start-month', spentMicroUsd: 800_000 })
    expect(evaluateRule(r80, counters({ month: 5_000_000 }), undefined)).toBeNull()
    expect(evaluateRule(r80, counters({ month: 5_000_000 }), 0)).toBeNull()
  })

  it('measures absolute spend over the rule period and spend rate over the UTC hour', () => {
    expect(evaluateRule(rule({ threshold: 1000 }), counters({ day: 999, hour: 5000 }), undefined)).toBeNull()
    expect(evaluateRule(rule({ threshold: 1000 }), counters({ day: 1000 }), undefined)).toEqual({ periodStart: 'start-day', spentMicroUsd: 1000 })
    const rate = rule({ kind: 'spend_rate', threshold: 1000, period: 'month' })
    expect(evaluateRule(rate, counters({ hour: 999, month: 10_000 }), undefined)).toBeNull()
    expect(evaluateRule(rate, counters({ hour: 1000 }), undefined)).toEqual({ periodStart: 'start-hour', spentMicroUsd: 1000 })
  })

  it('buckets time by UTC hour, day and month', () => {
    const at = new Date('2026-02-28T23:59:59.999Z')
    expect(alertPeriodStart(at, 'hour')).toBe('2026-02-28T23:00:00.000Z')
    expect(alertPeriodStart(at, 'day')).toBe('2026-02-28T00:00:00.000Z')
    expect(alertPeriodStart(at, 'month')).toBe('2026-02-01T00:00:00.000Z')
  })
})
