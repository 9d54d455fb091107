import { describe, expect, it } from 'vitest'
import {
  SecretDecryptionError,
  maskSecret,
  openSecret,
  rewrapSecret,
  sealSecret,
  type MasterKey,
  type SealedSecret,
  type SecretContext,
} from './envelope-encryption.ts'

const v1: MasterKey = { version: 1, key: Buffer.alloc(32, 0x11) }
const v2: MasterKey = { version: 2, key: Buffer.alloc(32, 0x22) }
const context: SecretContext = { tenantId: 'tenant_a', provider: 'openai', credentialId: 'cred_1' }
const secret = 'sk-proj-Q2hlY2sgdGhlIGVudmVsb3Bl-9f3a'

type ByteField = 'wrappedKey' | 'wrapIv' | 'wrapTag' | 'iv' | 'tag' | 'ciphertext'
const BYTE_FIELDS: readonly ByteField[] = ['wrappedKey', 'wrapIv', 'wrapTag', 'iv', 'tag', 'ciphertext']

/** The same field with one bit flipped, still canonical base64. */
function flipBit(sealed: SealedSecret, field: ByteField): SealedSecret {
  const bytes = Buffer.from(sealed[field], 'base64')
  bytes[0] = (bytes[0] ?? 0) ^ 0x01
  return { ...sealed, [field]: bytes.toString('base64') }
}

function failure(open: () => unknown): SecretDecryptionError {
  try {
    open()
  } catch (error) {
    if (error instanceof SecretDecryptionError) return error
    throw error
  }
  throw new Error('expected a SecretDecryptionError')
}

describe('sealing and opening', () => {
  it('round-trips a secret through JSON, as events and read models store it', () => {
    for (const plaintext of [secret, 'AIzaSyÄ-ünïcødé-🔑', '']) {
      const stored = JSON.parse(JSON.stringify(sealSecret(plaintext, context, [v1]))) as SealedSecret
      expect(openSecret(stored, context, [v1])).toBe(plaintext)
    }
  })

  it('seals under the highest master key version with fixed-size fields and no plaintext in the record', () => {
    const sealed = sealSecret(secret, context, [v1, v2])
    expect(sealed).toMatchObject({ v: 1, masterKeyVersion: 2 })
    expect(Buffer.from(sealed.wrappedKey, 'base64')).toHaveLength(32)
    for (const iv of [sealed.wrapIv, sealed.iv]) expect(Buffer.from(iv, 'base64')).toHaveLength(12)
    for (const tag of [sealed.wrapTag, sealed.tag]) expect(Buffer.from(tag, 'base64')).toHaveLength(16)
    expect(JSON.stringify(sealed)).not.toContain('Q2hlY2sgdGhlIGVudmVsb3Bl')
  })

  it('gives two different records for the same secret sealed twice', () => {
    const first = sealSecret(secret, context, [v1])
    const second = sealSecret(secret, context, [v1])
    for (const field of BYTE_FIELDS) expect(second[field]).not.toBe(first[field])
  })

  it('refuses to seal without a master key', () => {
    expect(() => sealSecret(secret, context, [])).toThrow(/No master key is configured/)
  })
})

describe('tampering', () => {
  const sealed = sealSecret(secret, context, [v1, v2])

  it.each(BYTE_FIELDS)('detects one flipped bit in %s', (field) => {
    expect(failure(() => openSecret(flipBit(sealed, field), context, [v1, v2])).reason).toBe('authentication_failed')
  })

  it('detects a master key version changed to another configured key', () => {
    const tampered = { ...sealed, masterKeyVersion: 1 }
    expect(failure(() => openSecret(tampered, context, [v1, v2])).reason).toBe('authentication_failed')
  })

  it('rejects an unknown format version and malformed fields before any decryption', () => {
    const cases: [SealedSecret, string, RegExp][] = [
      [{ ...sealed, v: 2 } as unknown as SealedSecret, 'unsupported_format', /expected v1/],
      [{ ...sealed, masterKeyVersion: 1.5 }, 'malformed', /masterKeyVersion/],
      [{ ...sealed, tag: sealed.tag.slice(0, 16) }, 'malformed', /tag is not canonical base64 of 16 bytes/],
      // Node's decoder would skip the stray character and yield the original bytes.
      [{ ...sealed, ciphertext: `${sealed.ciphertext}!` }, 'malformed', /ciphertext is not canonical base64/],
      [{ ...sealed, wrappedKey: undefined } as unknown as SealedSecret, 'malformed', /wrappedKey/],
    ]
    for (const [tampered, reason, message] of cases) {
      const error = failure(() => openSecret(tampered, context, [v1, v2]))
      expect(error.reason).toBe(reason)
      expect(error.message).toMatch(message)
    }
  })
})

describe('context binding', () => {
  const sealed = sealSecret(secret, context, [v1])

  it.each([
    ['another tenant', { ...context, tenantId: 'tenant_b' }],
    ['another provider', { ...context, provider: 'anthropic' }],
    ['another credential', { ...context, credentialId: 'cred_2' }],
  ])('does not open for %s', (_, other) => {
    const error = failure(() => openSecret(sealed, other, [v1]))
    expect(error.reason).toBe('authentication_failed')
    expect(error.message).toMatch(/tenant, provider or credential id differs/)
  })

  it('encodes the context unambiguously: moving characters between fields does not open', () => {
    const joined = sealSecret(secret, { tenantId: 'ab', provider: 'c', credentialId: 'd' }, [v1])
    expect(failure(() => openSecret(joined, { tenantId: 'a', provider: 'bc', credentialId: 'd' }, [v1])).reason).toBe(
      'authentication_failed',
    )
  })

  it('rejects an empty context field as a programming error', () => {
    expect(() => sealSecret(secret, { ...context, tenantId: '' }, [v1])).toThrow(TypeError)
    expect(() => openSecret(sealed, { ...context, credentialId: '' }, [v1])).toThrow(TypeError)
  })
})

describe('master keys', () => {
  it('names the missing version when the record was sealed under a key no longer configured', () => {
    const sealed = sealSecret(secret, context, [v1])
    const error = failure(() => openSecret(sealed, context, [v2]))
    expect(error.reason).toBe('unknown_master_key')
    expect(error.message).toBe('Cannot decrypt credential cred_1: master key version 1 is not configured (configured: 2)')
  })

  it('fails when a version keeps its number but its bytes changed', () => {
    const sealed = sealSecret(secret, context, [v1])
    const replaced = { version: 1, key: Buffer.alloc(32, 0x33) }
    expect(failure(() => openSecret(sealed, context, [replaced])).reason).toBe('authentication_failed')
  })

  it('re-wraps onto the newest key without touching the payload, then opens with that key alone', () => {
    const sealed = sealSecret(secret, context, [v1])
    const rewrapped = rewrapSecret(sealed, context, [v1, v2])
    expect(rewrapped.masterKeyVersion).toBe(2)
    expect(rewrapped.wrappedKey).not.toBe(sealed.wrappedKey)
    expect({ iv: rewrapped.iv, tag: rewrapped.tag, ciphertext: rewrapped.ciphertext }).toEqual({
      iv: sealed.iv,
      tag: sealed.tag,
      ciphertext: sealed.ciphertext,
    })
    expect(openSecret(rewrapped, context, [v2])).toBe(secret)
    expect(failure(() => openSecret(sealed, context, [v2])).reason).toBe('unknown_master_key')
  })

  it('returns a record already on the newest key unchanged', () => {
    const sealed = sealSecret(secret, context, [v1, v2])
    expect(rewrapSecret(sealed, context, [v1, v2])).toBe(sealed)
  })

  it('refuses to re-wrap under the wrong context or with an altered payload', () => {
    const sealed = sealSecret(secret, context, [v1])
    expect(failure(() => rewrapSecret(sealed, { ...context, tenantId: 'tenant_b' }, [v1, v2])).reason).toBe(
      'authentication_failed',
    )
    expect(failure(() => rewrapSecret(flipBit(sealed, 'ciphertext'), context, [v1, v2])).message).toMatch(/payload/)
  })
})

describe('error messages', () => {
  it('never contain the secret, a key, or the sealed bytes', () => {
    const sealed = sealSecret(secret, context, [v1, v2])
    const errors = [
      ...BYTE_FIELDS.map((field) => failure(() => openSecret(flipBit(sealed, field), context, [v1, v2]))),
      failure(() => openSecret(sealed, { ...context, provider: 'gemini' }, [v1, v2])),
      failure(() => openSecret(sealed, context, [v1])),
      failure(() => openSecret({ ...sealed, tag: `${sealed.tag}==` }, context, [v1, v2])),
      failure(() => rewrapSecret(flipBit(sealed, 'tag'), context, [v1, v2])),
    ]
    const forbidden = [
      secret,
      secret.slice(-8),
      ...[v1, v2].flatMap((k) => [k.key.toString('base64'), k.key.toString('hex')]),
      ...BYTE_FIELDS.map((field) => sealed[field]).filter((value) => value.length >= 8),
    ]
    for (const error of errors) {
      for (const text of [error.message, JSON.stringify(error)]) {
        for (const value of forbidden) expect(text).not.toContain(value)
      }
    }
  })
})

describe('maskSecret', () => {
  it.each([
    ['sk-proj-abcdefghijklmnop1234', 'sk-…1234'],
    ['sk-ant-api03-abcdefghijklmnopWXYZ', 'sk-…WXYZ'],
    ['AIzaSyD-abcdefghijklmnop9876', '…9876'],
    ['longprefix-abcdefghijklmnop5555', '…5555'],
    ['SK-abcdefghijklmnop4321', '…4321'],
    ['abcdefghijkl', '…ijkl'],
    ['abcdefghijk', '…jk'],
    ['sk-abcdefghij', '…ij'],
    ['abcdefg', '…'],
    ['', '…'],
    ['sk-abcdefghijklm🔑', 'sk-…klm🔑'],
  ])('masks %j as %j', (plaintext, masked) => {
    expect(maskSecret(plaintext)).toBe(masked)
  })
})
