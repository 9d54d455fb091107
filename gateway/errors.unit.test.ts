import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ERROR_CODES, GatewayError } from './errors.ts'

describe('the error catalogue', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')

  it('documents every code with its status and type', () => {
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(doc, code).toMatch(new RegExp(`\\| \`${code}\` \\| ${spec.status} \\| \`${spec.type}\` \\|`))
    }
  })

  it('documents no code that does not exist', () => {
    const documented = [...doc.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1])
    expect(documented.sort()).toEqual(Object.keys(ERROR_CODES).sort())
  })

  it('renders the OpenAI error shape', () => {
    expect(new GatewayError('invalid_request', 'temperature must be at most 2', 'temperature').toBody()).toEqual({
      error: { message: 'temperature must be at most 2', type: 'invalid_request_error', param: 'temperature', code: 'invalid_request' },
    })
  })
})
