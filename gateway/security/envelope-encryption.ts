import { createCipheriv, createDecipheriv, randomBytes, randomFillSync } from 'node:crypto'

/**
 * Envelope encryption of provider credentials, BYOK and gateway-hosted (DESIGN.md §7). Each credential
 * gets its own random data key; the payload is AES-256-GCM under that data key, and the data key is
 * AES-256-GCM under a versioned master key. Rotating the master key re-wraps 32 bytes per credential and
 * never touches a payload. Both layers authenticate the credential's context (tenant, provider,
 * credential id), so a sealed secret copied onto another tenant's or credential's record does not open.
 *
 * Buffers that held a data key or a plaintext are zeroed after use; the plaintext string itself cannot
 * be (JavaScript strings are immutable), which is why it lives only in memory and never in a log.
 */

/** A 32-byte master key; configuration lists them (`masterKeys`) and the highest version encrypts. */
export interface MasterKey {
  readonly version: number
  readonly key: Buffer
}

/** What a sealed secret is bound to: opening it under any other context fails. */
export interface SecretContext {
  readonly tenantId: string
  readonly provider: string
  readonly credentialId: string
}

/** JSON-serialisable (stored in events and read models); byte fields are canonical, padded base64. */
export interface SealedSecret {
  readonly v: 1
  readonly masterKeyVersion: number
  /** The data key encrypted under the master key: 32 bytes. */
  readonly wrappedKey: string
  readonly wrapIv: string
  readonly wrapTag: string
  readonly iv: string
  readonly tag: string
  readonly ciphertext: string
}

export type SecretDecryptionReason = 'unsupported_format' | 'malformed' | 'unknown_master_key' | 'authentication_failed'

/** A sealed secret that cannot be opened. Messages name fields and versions, never bytes or plaintext. */
export class SecretDecryptionError extends Error {
  readonly reason: SecretDecryptionReason
  readonly credentialId: string

  constructor(reason: SecretDecryptionReason, credentialId: string, detail: string) {
    super(`Cannot decrypt credential ${credentialId}: ${detail}`)
    this.name = 'SecretDecryptionError'
    this.reason = reason
    this.credentialId = credentialId
  }
}

const FORMAT_VERSION = 1
const ALGORITHM = 'aes-256-gcm'
const KEY_BYTES = 32
const IV_BYTES = 12
const TAG_BYTES = 16

/**
 * Each field is a 4-byte big-endian length and its UTF-8 bytes, so no two contexts encode alike
 * (`ab`+`c` differs from `a`+`bc`). The label separates the two layers and carries the format version.
 */
function encodeFields(fields: readonly string[]): Buffer {
  const parts: Buffer[] = []
  for (const field of fields) {
    const bytes = Buffer.from(field, 'utf8')
    const length = Buffer.alloc(4)
    length.writeUInt32BE(bytes.length)
    parts.push(length, bytes)
  }
  return Buffer.concat(parts)
}

function checkedContext(context: SecretContext): readonly string[] {
  const fields = [context.tenantId, context.provider, context.credentialId]
  for (const [i, field] of fields.entries()) {
    // A lone surrogate encodes as U+FFFD, so two different ids could otherwise share one encoding.
    if (typeof field !== 'string' || field === '' || !field.isWellFormed()) {
      const name = ['tenantId', 'provider', 'credentialId'][i] ?? 'field'
      throw new TypeError(`SecretContext.${name} must be a non-empty, well-formed string`)
    }
  }
  return fields
}

const payloadAad = (context: SecretContext) => encodeFields(['supergate.secret.v1/payload', ...checkedContext(context)])

const dataKeyAad = (context: SecretContext, masterKeyVersion: number) =>
  encodeFields(['supergate.secret.v1/data-key', ...checkedContext(context), String(masterKeyVersion)])

function newestMasterKey(masterKeys: readonly MasterKey[]): MasterKey {
  let newest: MasterKey | undefined
  for (const candidate of masterKeys) if (newest === undefined || candidate.version > newest.version) newest = candidate
  if (newest === undefined) throw new Error('No master key is configured (SUPERGATE_MASTER_KEY)')
  return checkedMasterKey(newest)
}

function checkedMasterKey(master: MasterKey): MasterKey {
  if (master.key.length !== KEY_BYTES) throw new Error(`Master key version ${master.version} must be ${KEY_BYTES} bytes`)
  return master
}

function encrypt(key: Buffer, plaintext: Buffer, aad: Buffer): { iv: Buffer; ciphertext: Buffer; tag: Buffer } {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(aad)
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return { iv, ciphertext, tag: cipher.getAuthTag() }
}

/** The plaintext, or undefined when authentication fails; unauthenticated output is zeroed, never returned. */
function decrypt(key: Buffer, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer): Buffer | undefined {
  const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES })
  decipher.setAAD(aad)
  decipher.setAuthTag(tag)
  const parts = [decipher.update(ciphertext)]
  try {
    parts.push(decipher.final())
    return Buffer.concat(parts)
  } catch {
    return undefined
  } finally {
    for (const part of parts) part.fill(0)
  }
}

const base64 = (bytes: Buffer) => bytes.toString('base64')

interface DecodedSecret {
  masterKeyVersion: number
  wrappedKey: Buffer
  wrapIv: Buffer
  wrapTag: Buffer
  iv: Buffer
  tag: Buffer
  ciphertext: Buffer
}

/**
 * Sealed secrets come back from storage as parsed JSON, so the shape is checked at run time. Byte fields
 * must be canonical base64: Node's decoder skips stray characters, and an edited string must not open.
 */
function decode(sealed: SealedSecret, credentialId: string): DecodedSecret {
  const record = sealed as unknown as Record<string, unknown>
  if (record.v !== FORMAT_VERSION) {
    throw new SecretDecryptionError('unsupported_format', credentialId, `unsupported sealed-secret format (expected v${FORMAT_VERSION})`)
  }
  const version = record.masterKeyVersion
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new SecretDecryptionError('malformed', credentialId, 'masterKeyVersion is not a positive integer')
  }
  const bytes = (field: keyof SealedSecret, length?: number): Buffer => {
    const value = record[field]
    const decoded = typeof value === 'string' ? Buffer.from(value, 'base64') : undefined
    if (decoded === undefined || decoded.toString('base64') !== value || (length !== undefined && decoded.length !== length)) {
      const size = length === undefined ? '' : ` of ${length} bytes`
      throw new SecretDecryptionError('malformed', credentialId, `${field} is not canonical base64${size}`)
    }
    return decoded
  }
  return {
    masterKeyVersion: version,
    wrappedKey: bytes('wrappedKey', KEY_BYTES),
    wrapIv: bytes('wrapIv', IV_BYTES),
    wrapTag: bytes('wrapTag', TAG_BYTES),
    iv: bytes('iv', IV_BYTES),
    tag: bytes('tag', TAG_BYTES),
    ciphertext: bytes('ciphertext'),
  }
}

/** The data key, authenticated against the context; the caller zeroes it. */
function unwrapDataKey(decoded: DecodedSecret, context: SecretContext, masterKeys: readonly MasterKey[]): Buffer {
  const master = masterKeys.find((k) => k.version === decoded.masterKeyVersion)
  if (master === undefined) {
    const configured = masterKeys.map((k) => k.version).join(', ') || 'none'
    throw new SecretDecryptionError(
      'unknown_master_key',
      context.credentialId,
      `master key version ${decoded.masterKeyVersion} is not configured (configured: ${configured})`,
    )
  }
  const aad = dataKeyAad(context, decoded.masterKeyVersion)
  const dataKey = decrypt(checkedMasterKey(master).key, decoded.wrapIv, decoded.wrappedKey, decoded.wrapTag, aad)
  if (dataKey === undefined) {
    throw new SecretDecryptionError(
      'authentication_failed',
      context.credentialId,
      `the data key did not authenticate under master key version ${decoded.masterKeyVersion}: ` +
        'the tenant, provider or credential id differs, the master key changed, or the record was altered',
    )
  }
  return dataKey
}

/** The payload's plaintext bytes; the caller zeroes them. */
function openPayload(decoded: DecodedSecret, dataKey: Buffer, context: SecretContext): Buffer {
  const plaintext = decrypt(dataKey, decoded.iv, decoded.ciphertext, decoded.tag, payloadAad(context))
  if (plaintext === undefined) {
    throw new SecretDecryptionError('authentication_failed', context.credentialId, 'the payload did not authenticate: the record was altered')
  }
  return plaintext
}

export function sealSecret(plaintext: string, context: SecretContext, masterKeys: readonly MasterKey[]): SealedSecret {
  if (!plaintext.isWellFormed()) throw new TypeError('A secret must be well-formed Unicode text')
  const master = newestMasterKey(masterKeys)
  const payloadContext = payloadAad(context)
  const wrapContext = dataKeyAad(context, master.version)
  // Buffer.alloc never hands out a slice of the shared pool, so zeroing it below erases the only copy.
  const dataKey = Buffer.alloc(KEY_BYTES)
  const plaintextBytes = Buffer.from(plaintext, 'utf8')
  try {
    randomFillSync(dataKey)
    const payload = encrypt(dataKey, plaintextBytes, payloadContext)
    const wrapped = encrypt(master.key, dataKey, wrapContext)
    return {
      v: FORMAT_VERSION,
      masterKeyVersion: master.version,
      wrappedKey: base64(wrapped.ciphertext),
      wrapIv: base64(wrapped.iv),
      wrapTag: base64(wrapped.tag),
      iv: base64(payload.iv),
      tag: base64(payload.tag),
      ciphertext: base64(payload.ciphertext),
    }
  } finally {
    dataKey.fill(0)
    plaintextBytes.fill(0)
  }
}

export function openSecret(sealed: SealedSecret, context: SecretContext, masterKeys: readonly MasterKey[]): string {
  checkedContext(context)
  const decoded = decode(sealed, context.credentialId)
  const dataKey = unwrapDataKey(decoded, context, masterKeys)
  try {
    const plaintext = openPayload(decoded, dataKey, context)
    try {
      return plaintext.toString('utf8')
    } finally {
      plaintext.fill(0)
    }
  } finally {
    dataKey.fill(0)
  }
}

/**
 * Re-wraps the data key under the newest master key; iv, tag and ciphertext are carried over untouched.
 * The payload is authenticated first, so rotation reports an altered record instead of carrying it
 * forward, and this throws for anything openSecret would reject (even when no re-wrap is needed).
 */
export function rewrapSecret(sealed: SealedSecret, context: SecretContext, masterKeys: readonly MasterKey[]): SealedSecret {
  checkedContext(context)
  const newest = newestMasterKey(masterKeys)
  const decoded = decode(sealed, context.credentialId)
  const dataKey = unwrapDataKey(decoded, context, masterKeys)
  try {
    openPayload(decoded, dataKey, context).fill(0)
    if (decoded.masterKeyVersion === newest.version) return sealed
    const wrapped = encrypt(newest.key, dataKey, dataKeyAad(context, newest.version))
    return {
      v: FORMAT_VERSION,
      masterKeyVersion: newest.version,
      wrappedKey: base64(wrapped.ciphertext),
      wrapIv: base64(wrapped.iv),
      wrapTag: base64(wrapped.tag),
      iv: sealed.iv,
      tag: sealed.tag,
      ciphertext: sealed.ciphertext,
    }
  } finally {
    dataKey.fill(0)
  }
}

const PROVIDER_PREFIX = /^[a-z][a-z0-9]{1,3}-/
const MIN_LENGTH_FOR_FOUR = 12
const MIN_LENGTH_FOR_TWO = 8

/**
 * A listing's view of a credential: `sk-…abcd`. The prefix (a provider convention such as `sk-`, not
 * secret) is shown only when short and lowercase; of the rest, at most the last 4 characters, only 2
 * when the rest is under 12 characters (then without the prefix), and none under 8.
 */
export function maskSecret(plaintext: string): string {
  const prefix = PROVIDER_PREFIX.exec(plaintext)?.[0] ?? ''
  // Code points, so a mask never splits a surrogate pair.
  const rest = Array.from(plaintext.slice(prefix.length))
  if (rest.length >= MIN_LENGTH_FOR_FOUR) return `${prefix}…${rest.slice(-4).join('')}`
  if (rest.length >= MIN_LENGTH_FOR_TWO) return `…${rest.slice(-2).join('')}`
  return '…'
}
