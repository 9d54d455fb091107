import { describe, expect, it } from 'vitest'
import type { Envelope } from '../../events/envelope.ts'
import { uuidv7 } from '../../events/ids.ts'
import { NewerEventVersionError } from '../../events/catalogue/registry.ts'
import { InvalidEventDataError } from '../runner/projection-runner.ts'
import { parseCreditGrant, parseRequestSpend } from './spend-events.ts'

const envelope = (type: string, data: Record<string, unknown>, version = 1): Envelope => ({
  id: uuidv7(),
  type,
  version,
  tenantId: 't1',
  occurredAt: '2026-01-02T03:04:05.000Z',
  correlationId: null,
  causationId: null,
  actor: { type: 'system', id: 'gateway' },
  data,
})

const common = {
  requestId: 'r1',
  projectId: 'p',
  keyId: 'k',
  provider: 'openai',
  model: 'openai/gpt-4o-mini',
  endpoint: 'chat.completions',
  stream: false,
  outcome: 'completed',
  httpStatus: 200,
  cacheOutcome: 'miss',
  priceVersion: 'v1',
  latencyMs: 10,
  timeToFirstTokenMs: null,
  keySource: 'gateway',
  errorCode: null,
}
const usage = { promptTokens: 1, completionTokens: 2, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false }

describe('spend events as the balance and budget projections read them', () => {
  it('reads the cost of request.completed v1, and of v0 in exact micro-USD', () => {
    expect(parseRequestSpend(envelope('request.completed', { ...common, usage, costMicroUsd: 1234 }))).toEqual({ projectId: 'p', keyId: 'k', costMicroUsd: 1234 })
    const v0 = { ...common, projectId: null, promptTokens: 1, completionTokens: 2, costUsd: '0.000123' }
    expect(parseRequestSpend(envelope('request.completed', v0, 0))).toEqual({ projectId: null, keyId: 'k', costMicroUsd: 123 })
  })

  it.each([
    ['a fractional cost', 1.5],
    ['a negative cost', -1],
    ['a cost as a string', '10'],
    ['no cost', undefined],
  ])('refuses %s rather than let it reach a balance', (_, costMicroUsd) => {
    expect(() => parseRequestSpend(envelope('request.completed', { ...common, usage, costMicroUsd }))).toThrow(InvalidEventDataError)
  })

  it('refuses a grant naming another tenant than its envelope, or a fractional amount', () => {
    expect(parseCreditGrant(envelope('credits.granted', { tenantId: 't1', grantId: 'g', amountMicroUsd: 5 }))).toEqual({ amountMicroUsd: 5 })
    expect(() => parseCreditGrant(envelope('credits.granted', { tenantId: 't2', amountMicroUsd: 5 }))).toThrow(InvalidEventDataError)
    expect(() => parseCreditGrant(envelope('credits.granted', { tenantId: 't1', amountMicroUsd: 0.5 }))).toThrow(InvalidEventDataError)
  })
})

describe('an event from a newer build', () => {
  it('is not parked as invalid: the error fails the batch, so the log holds it for an upgraded process', () => {
    let thrown: unknown
    try {
      parseRequestSpend(envelope('request.completed', { anything: 1 }, 99))
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(NewerEventVersionError)
    expect(thrown).not.toBeInstanceOf(InvalidEventDataError)
  })
})
