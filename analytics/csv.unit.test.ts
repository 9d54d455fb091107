import { describe, expect, it } from 'vitest'
import { csvField, microUsdToUsd } from './csv.ts'

describe('CSV', () => {
  it.each([
    [0, '0.000000'],
    [1, '0.000001'],
    [999_999, '0.999999'],
    [1_000_000, '1.000000'],
    [12_345_678_901, '12345.678901'],
    [Number.MAX_SAFE_INTEGER, '9007199254.740991'],
  ])('%i micro-USD is $%s, exactly', (micro, usd) => {
    expect(microUsdToUsd(micro)).toBe(usd)
  })

  it('quotes what must be quoted and defuses spreadsheet formulas in names', () => {
    expect(csvField(null)).toBe('')
    expect(csvField(42)).toBe('42')
    expect(csvField('plain')).toBe('plain')
    expect(csvField('a,b')).toBe('"a,b"')
    expect(csvField('say "hi"')).toBe('"say ""hi"""')
    expect(csvField('line\nbreak')).toBe('"line\nbreak"')
    expect(csvField('=HYPERLINK("http://evil")')).toBe(`"'=HYPERLINK(""http://evil"")"`)
    expect(csvField('+1')).toBe("'+1")
    expect(csvField('@user')).toBe("'@user")
  })
})
