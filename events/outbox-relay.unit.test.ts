import { describe, expect, it } from 'vitest'
import type { StoredEvent } from './event-store.ts'
import { InvalidOutboxEventError, toControlEnvelope, toOutboxMessage } from './outbox-relay.ts'

const metadata = {
  tenantId: 'acme',
  actor: { type: 'key', id: 'key_123' },
  sourceIp: '198.51.100.4',
  userAgent: 'curl/8',
  reason: 'quarterly top-up',
  correlationId: 'req_42',
  occurredAt: '2025-03-01T10:00:00.000Z',
  version: 3,
}

const stored = (overrides: Partial<StoredEvent> = {}): StoredEvent => ({
  id: '0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  type: 'credit.granted',
  data: { amountMicroUsd: 5_000_000 },
  metadata,
  streamId: 'credits-acme',
  streamVersion: 4,
  globalPosition: 17,
  recordedAt: new Date('2025-03-01T10:00:00.010Z'),
  ...overrides,
})

describe('the envelope of a relayed control event', () => {
  it('takes who, when and why from the event’s control metadata, with no causation', () => {
    expect(toControlEnvelope(stored())).toEqual({
      id: '0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
      type: 'credit.granted',
      version: 3,
      tenantId: 'acme',
      occurredAt: '2025-03-01T10:00:00.000Z',
      correlationId: 'req_42',
      causationId: null,
      actor: { type: 'key', id: 'key_123' },
      data: { amountMicroUsd: 5_000_000 },
    })
  })

  it('travels keyed by tenant, with the headers a relay resumes from', () => {
    const message = toOutboxMessage(stored())
    expect(message.key).toBe('acme')
    expect(message.headers).toEqual({
      'event-type': 'credit.granted',
      'event-id': '0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
      'global-position': '17',
    })
    expect(JSON.parse(message.value.toString())).toEqual(toControlEnvelope(stored()))
  })

  it.each([
    ['metadata without an actor', stored({ metadata: { ...metadata, actor: undefined } })],
    ['metadata with a field the schema does not know', stored({ metadata: { ...metadata, apiKey: 'sk-live' } })],
    ['an empty correlation id', stored({ metadata: { ...metadata, correlationId: '' } })],
    ['data that is not an object', stored({ data: [1, 2] })],
    ['a type that is not a dotted past-tense name', stored({ type: 'GrantCredit' })],
  ])('refuses %s, naming the event and its position', (_, event) => {
    let thrown: unknown
    try {
      toControlEnvelope(event)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(InvalidOutboxEventError)
    expect(thrown).toMatchObject({ globalPosition: 17, eventId: event.id })
    expect((thrown as Error).cause).toBeDefined()
  })
})
