import { describe, expect, it } from 'vitest'
import type { MessageBatch } from '../../events/event-log.ts'
import { assertNoGap, OffsetGapError } from './projection-runner.ts'

const batchFrom = (first: number): MessageBatch => ({
  topic: 'usage',
  partition: 1,
  messages: [0, 1, 2].map((i) => ({ topic: 'usage', partition: 1, offset: first + i, key: 't', value: Buffer.from('{}'), headers: {} })),
})

describe('a batch that skips messages', () => {
  it('is refused when it starts past the next offset the consumer stored: those messages would be lost', () => {
    expect(() => assertNoGap('balances', batchFrom(614), 547)).toThrow(OffsetGapError)
    expect(() => assertNoGap('balances', batchFrom(614), 547)).toThrow(/usage:1 delivered from offset 614, but 547 is next/)
  })

  it('is taken when it starts at or before that offset (a batch delivered again starts before it)', () => {
    expect(() => assertNoGap('balances', batchFrom(547), 547)).not.toThrow()
    expect(() => assertNoGap('balances', batchFrom(500), 547)).not.toThrow()
  })
})
