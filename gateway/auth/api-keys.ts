import { createHash } from 'node:crypto'
import type { ApiKeyConfig } from '../../infra/config/config.ts'
import type { Role } from '../control/roles.ts'

/** Who is calling, as the data plane needs it: resolved once per request from the API key. */
export interface Principal {
  /** A stable, non-secret id of the key (safe to log). */
  keyId: string
  name: string
  tenantId: string
  /** `platform`: the bootstrap admin token, over every tenant; otherwise the key's role in its tenant. */
  role: Role | 'platform'
  projectId?: string | null
  /** Patterns (`provider/model`, `provider/*`, `*`, or a bare alias); undefined allows every model. */
  allowedModels?: readonly string[]
  /** Models to try, in order, when the requested one fails with a retryable error. */
  fallbackModels?: readonly string[]
  /** Limits set on the key when it was issued; a rate limit set on its `key:<id>` scope takes precedence. */
  keyLimits?: { requestsPerMinute?: number; tokensPerMinute?: number; concurrentRequests?: number }
}

/** The auth port: the control plane's key read model will implement it too (issue 4). */
export interface KeyResolver {
  /** Synchronous when the key is cached (the hot path); a promise when it must be looked up. */
  authenticate(secret: string): Principal | undefined | Promise<Principal | undefined>
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/**
 * Keys from configuration (SUPERGATE_API_KEYS) and the bootstrap admin token. Lookup is by the SHA-256
 * of the presented secret, so no comparison ever runs over the secret itself (no timing leak), and the
 * table holds no plaintext.
 */
export class ConfigKeyResolver implements KeyResolver {
  readonly #byHash = new Map<string, Principal>()

  constructor(keys: readonly ApiKeyConfig[], adminToken?: string) {
    for (const [i, key] of keys.entries()) {
      const hash = sha256(key.key)
      this.#byHash.set(hash, {
        keyId: `key_${hash.slice(0, 12)}`,
        name: key.name ?? `configured key ${i + 1}`,
        tenantId: 'default',
        role: 'developer',
        ...(key.allowedModels === undefined ? {} : { allowedModels: key.allowedModels }),
        ...(key.fallbackModels === undefined ? {} : { fallbackModels: key.fallbackModels }),
      })
    }
    if (adminToken !== undefined) {
      const hash = sha256(adminToken)
      this.#byHash.set(hash, { keyId: `admin_${hash.slice(0, 12)}`, name: 'bootstrap admin', tenantId: 'default', role: 'platform' })
    }
  }

  authenticate(secret: string): Principal | undefined {
    return this.#byHash.get(sha256(secret))
  }
}

/** The secret from `Authorization: Bearer …` (OpenAI SDK, current Anthropic SDK) or `x-api-key` (older Anthropic clients). */
export function presentedSecret(headers: Record<string, string | string[] | undefined>): string | undefined {
  const authorization = headers.authorization
  if (typeof authorization === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization)
    if (match !== null) return match[1]
  }
  const apiKey = headers['x-api-key']
  return typeof apiKey === 'string' && apiKey.trim() !== '' ? apiKey.trim() : undefined
}
