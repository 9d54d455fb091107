import { describe, expect, it } from 'vitest'
import { uuidv7 } from './ids.ts'

describe('uuidv7', () => {
  it('makes RFC 9562 version-7 ids, unique across many refills of its random block, ordered by time', () => {
    const ids = Array.from({ length: 5_000 }, (_, i) => uuidv7(1_767_225_600_000 + i))
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(new Set(ids).size).toBe(ids.length)
    expect([...ids].sort()).toEqual(ids)
    // The random part differs even within one millisecond.
    const sameMs = Array.from({ length: 1_000 }, () => uuidv7(1_767_225_600_000))
    expect(new Set(sameMs).size).toBe(1_000)
    expect(uuidv7(1_767_225_600_000).slice(0, 13)).toBe('019b76da-a800')
  })
})
