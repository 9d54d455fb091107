import { describe, expect, it } from 'vitest'
import { GatewayError } from '../errors.ts'
import { isStorableText, refuseUnstorableText } from './text.ts'

function refusal(value: unknown): GatewayError | undefined {
  try {
    refuseUnstorableText(value)
    return undefined
  } catch (error) {
    if (error instanceof GatewayError) return error
    throw error
  }
}

describe('storable text', () => {
  it('is well-formed Unicode without NUL', () => {
    expect(['', 'josé', '🙂', 'a\tb', 'e\u0301'].every(isStorableText)).toBe(true)
    expect(['a\u0000b', '\ud800', 'x\udfff', '\udfff\ud800'].some(isStorableText)).toBe(false)
  })

  it('refuses a JSON value with unstorable text in a string or a key, naming where', () => {
    expect(refusal({ name: 'ok', tags: ['a', 'b'], n: 1, nothing: null })).toBeUndefined()
    expect(refusal({ name: 'a\u0000b' })).toMatchObject({ code: 'invalid_request', status: 400, param: 'name' })
    expect(refusal({ allowedModels: ['ok', 'x\ud800'] })).toMatchObject({ param: 'allowedModels.1' })
    expect(refusal({ modelThresholds: { 'openai/\u0000': 0.5 } })).toMatchObject({ param: 'modelThresholds.openai/\u0000' })
    expect(refusal('\ud800')).toMatchObject({ param: null })
  })
})
