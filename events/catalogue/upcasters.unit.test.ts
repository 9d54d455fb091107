import { describe, expect, it } from 'vitest'
import { usdDecimalToMicroUsd } from './upcasters.ts'

describe('usdDecimalToMicroUsd', () => {
  it.each([
    ['0', 0],
    ['1', 1_000_000],
    ['0.000001', 1],
    ['0.1', 100_000],
    // 0.29 * 1e6 is 289999.99999999994 in floating point; the string math gets it exact.
    ['0.29', 290_000],
    ['12.345678', 12_345_678],
    ['0.0000005', 1],
    ['0.00000049999', 0],
    ['2.9999995', 3_000_000],
    ['9007199254.740991', 9_007_199_254_740_991],
  ])('$%s is %i micro-USD', (usd, micro) => {
    expect(usdDecimalToMicroUsd(usd)).toBe(micro)
  })

  it('refuses amounts it cannot hold exactly or that are not decimals', () => {
    expect(() => usdDecimalToMicroUsd('9007199254.740992')).toThrow(/beyond/)
    expect(() => usdDecimalToMicroUsd('1e-6')).toThrow(/not a non-negative decimal/)
    expect(() => usdDecimalToMicroUsd('-1')).toThrow(/not a non-negative decimal/)
  })
})
