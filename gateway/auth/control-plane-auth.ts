import { createHash, timingSafeEqual } from 'node:crypto'
import type { SqlStore } from '../../infra/postgres/sql-store.ts'
import type { Role } from '../control/roles.ts'
import { DEFAULT_CACHE_SETTINGS } from '../control/settings.ts'
import type { CacheSettings, LimiterUnavailablePolicy, PriceOverride, RateLimitDefinition } from '../control/settings.ts'
import type { TenantLimits } from '../limits/limits.ts'
import type { KeyMode } from '../control/tenancy.ts'
import type { ProviderCredential, ProviderName } from '../providers/types.ts'
import type { CredentialStore } from '../proxy/proxy.ts'
import { openSecret } from '../security/envelope-encryption.ts'
import type { MasterKey, SealedSecret } from '../security/envelope-encryption.ts'
import type { KeyResolver, Principal } from './api-keys.ts'

interface KeyRow {
  id: string
  tenant_id: string
  role: Role
  project_id: string | null
  allowed_models: string[] | null
  fallback_models: string[] | null
  limits: { requestsPerMinute?: number; tokensPerMinute?: number; concurrentRequests?: number } | null
  expires_at: Date | null
  secret_hash: string
  previous_hash: string | null
  previous_valid_until: Date | null
  revoked_at: Date | null
}

interface TenantCredentials {
  keyMode: KeyMode
  byProvider: Map<string, ProviderCredential>
  /** Per-model price overrides and markup, by `provider/model`. */
  prices: Map<string, PriceOverride>
  /** Rate limits, budgets, credits and the limits policy; undefined when the tenant limits nothing. */
  limits: TenantLimits | undefined
  /** The response cache's settings; undefined when the tenant never set them (cache off). */
  cache: CacheSettings | undefined
}

const KEY_FORMAT = /^sg_([A-Za-z0-9]{12})_[A-Za-z0-9]{43}$/
const sha256 = (text: string) => createHash('sha256').update(text).digest()

function sameHash(presented: Buffer, storedHex: string | null): boolean {
  if (storedHex === null) return false
  const stored = Buffer.from(storedHex, 'hex')
  return stored.length === presented.length && timingSafeEqual(stored, presented)
}

export interface ControlPlaneAuthOptions {
  sql: SqlStore
  /** Gateway-hosted credentials (configuration), and keys from configuration (tenant `default`). */
  fallback: KeyResolver & CredentialStore
  masterKeys: () => readonly MasterKey[]
  /** Where a tenant's own credential calls when it names no base URL: the configured or the public endpoint. */
  baseUrlFor: (provider: ProviderName) => string
  pollIntervalMs?: number
  now?: () => number
  onError?: (error: unknown) => void
}

/**
 * API keys and provider credentials as the data plane needs them, from the control plane's read models.
 * Keys are cached by their public id, so an authenticated request costs one SHA-256 and a map lookup; a
 * tenant's credentials are decrypted once and kept in memory only. Every `pollIntervalMs` the cache reads
 * the control events projected since its last look and forgets what they touched: a revoked key or a
 * changed credential is gone from every gateway process within that interval.
 */
export class ControlPlaneAuth implements KeyResolver, CredentialStore {
  readonly #o: ControlPlaneAuthOptions
  readonly #keys = new Map<string, KeyRow>()
  readonly #tenants = new Map<string, TenantCredentials>()
  /** Loads in flight by public id: a burst of calls with a key not cached yet reads it once. */
  readonly #loading = new Map<string, Promise<KeyRow | undefined>>()
  #position = -1
  #timer: NodeJS.Timeout | undefined
  #polling: Promise<void> | undefined

  constructor(options: ControlPlaneAuthOptions) {
    this.#o = options
  }

  authenticate(secret: string): Principal | undefined | Promise<Principal | undefined> {
    const match = KEY_FORMAT.exec(secret)
    if (match === null) return this.#o.fallback.authenticate(secret)
    const publicId = match[1]!
    const cached = this.#keys.get(publicId)
    if (cached !== undefined && this.#tenants.has(cached.tenant_id)) return this.#verify(cached, secret)
    let loading = this.#loading.get(publicId)
    if (loading === undefined) {
      loading = this.#load(publicId).finally(() => this.#loading.delete(publicId))
      this.#loading.set(publicId, loading)
    }
    return loading.then((row) => (row === undefined ? undefined : this.#verify(row, secret)))
  }

  #verify(row: KeyRow, secret: string): Principal | undefined {
    const now = this.#o.now?.() ?? Date.now()
    const presented = sha256(secret)
    const current = sameHash(presented, row.secret_hash)
    const previous = !current && row.previous_valid_until !== null && row.previous_valid_until.getTime() > now && sameHash(presented, row.previous_hash)
    if (!current && !previous) return undefined
    if (row.revoked_at !== null) return undefined
    if (row.expires_at !== null && row.expires_at.getTime() <= now) return undefined
    return {
      keyId: row.id,
      name: row.id,
      tenantId: row.tenant_id,
      role: row.role,
      projectId: row.project_id,
      ...(row.allowed_models === null ? {} : { allowedModels: row.allowed_models }),
      ...(row.fallback_models === null ? {} : { fallbackModels: row.fallback_models }),
      ...(row.limits === null ? {} : { keyLimits: row.limits }),
    }
  }

  async #load(publicId: string): Promise<KeyRow | undefined> {
    // As the gateway's role: the SECURITY DEFINER lookup is the one way to find a key before knowing its tenant.
    const row = await this.#o.sql.transaction(async (tx) => {
      await tx.query('SET LOCAL ROLE supergate_app')
      return (await tx.query<KeyRow>('SELECT * FROM auth_find_api_key($1)', [publicId])).rows[0]
    })
    if (row === undefined) return undefined
    await this.#loadTenant(row.tenant_id)
    this.#keys.set(publicId, row)
    return row
  }

  async #loadTenant(tenantId: string): Promise<void> {
    if (this.#tenants.has(tenantId)) return
    this.#tenants.set(tenantId, await this.#readTenant(tenantId))
  }

  /** A tenant's key mode, credentials (decrypted), prices, limits and cache settings, from the read models. */
  async #readTenant(tenantId: string): Promise<TenantCredentials> {
    const { mode, rows, prices, limits, cache } = await this.#o.sql.transaction(
      async (tx) => {
        await tx.query('SET LOCAL ROLE supergate_app')
        const tenant = await tx.query<{ key_mode: KeyMode }>('SELECT key_mode FROM tenants WHERE id = $1', [tenantId])
        const creds = await tx.query<{ provider: string; credential_id: string; sealed: SealedSecret; base_url: string | null }>(
          'SELECT provider, credential_id, sealed, base_url FROM provider_credentials',
        )
        const overrides = await tx.query<{ model: string; price: PriceOverride }>('SELECT model, price FROM price_overrides')
        const rates = await tx.query<{ scope: string; requests_per_minute: number | null; tokens_per_minute: number | null; concurrent_requests: number | null }>(
          'SELECT scope, requests_per_minute, tokens_per_minute, concurrent_requests FROM rate_limits',
        )
        const budgets = await tx.query<{ scope: string; period: 'day' | 'month'; limit_micro_usd: number }>('SELECT scope, period, limit_micro_usd FROM budgets')
        const credited = await tx.query<{ total: number | null }>('SELECT sum(amount_micro_usd)::bigint AS total FROM credit_grants')
        const policy = await tx.query<{ on_limiter_unavailable: LimiterUnavailablePolicy }>('SELECT on_limiter_unavailable FROM limit_policies')
        const cacheSettings = await tx.query<{ settings: Partial<CacheSettings> }>('SELECT settings FROM cache_settings')
        const tenantLimits: TenantLimits = {
          rateLimits: new Map<string, RateLimitDefinition>(
            rates.rows.map((r) => [r.scope, { requestsPerMinute: r.requests_per_minute, tokensPerMinute: r.tokens_per_minute, concurrentRequests: r.concurrent_requests }]),
          ),
          budgets: budgets.rows.map((b) => ({ scope: b.scope, period: b.period, limitMicroUsd: Number(b.limit_micro_usd) })),
          creditedMicroUsd: Number(credited.rows[0]?.total ?? 0),
          policy: policy.rows[0]?.on_limiter_unavailable ?? 'fail_open',
        }
        const limitsNothing = tenantLimits.rateLimits.size === 0 && tenantLimits.budgets.length === 0 && tenantLimits.creditedMicroUsd === 0
        return {
          mode: tenant.rows[0]?.key_mode ?? 'gateway',
          rows: creds.rows,
          prices: new Map(overrides.rows.map((r) => [r.model, r.price])),
          limits: limitsNothing ? undefined : tenantLimits,
          cache: cacheSettings.rows[0] === undefined ? undefined : { ...DEFAULT_CACHE_SETTINGS, ...cacheSettings.rows[0].settings },
        }
      },
      { tenantId },
    )
    const byProvider = new Map<string, ProviderCredential>()
    for (const row of rows) {
      try {
        const apiKey = openSecret(row.sealed, { tenantId, provider: row.provider, credentialId: row.credential_id }, this.#o.masterKeys())
        byProvider.set(row.provider, { apiKey, baseUrl: (row.base_url ?? this.#o.baseUrlFor(row.provider as ProviderName)).replace(/\/+$/, ''), source: 'byok' })
      } catch (error) {
        // A credential that no longer opens (a master key withdrawn too early) is unusable: calls fall
        // back per the tenant's key mode, and the failure is reported without any key material.
        this.#o.onError?.(error)
      }
    }
    return { keyMode: mode, byProvider, prices, limits, cache }
  }

  credentialFor(provider: ProviderName, principal: Principal): ProviderCredential | undefined {
    const tenant = this.#tenants.get(principal.tenantId)
    const gateway = this.#o.fallback.credentialFor(provider, principal)
    if (tenant === undefined) return gateway
    const own = tenant.byProvider.get(provider)
    switch (tenant.keyMode) {
      case 'byok_only':
        return own
      case 'byok_with_fallback':
        return own ?? gateway
      case 'gateway':
        return gateway
    }
  }

  /** The tenant's price override for a model, if any (cached with the tenant, like its credentials). */
  priceOverride(tenantId: string, model: string): PriceOverride | undefined {
    return this.#tenants.get(tenantId)?.prices.get(model)
  }

  /** The tenant's response cache settings (cached with the tenant); undefined: never set, cache off. */
  cacheSettingsFor(tenantId: string): CacheSettings | undefined {
    return this.#tenants.get(tenantId)?.cache
  }

  /** The tenant's limits (cached with the tenant); undefined when it limits nothing or is not loaded. */
  limitsFor(tenantId: string): TenantLimits | undefined {
    return this.#tenants.get(tenantId)?.limits
  }

  has(provider: ProviderName, principal: Principal): boolean {
    return this.credentialFor(provider, principal) !== undefined
  }

  /** Forgets cached keys and tenants touched by control events projected since the last look. */
  async refresh(): Promise<void> {
    const projected = await this.#o.sql.query<{ position: number }>("SELECT position FROM projection_positions WHERE name = 'control-read-models'")
    const position = projected.rows[0]?.position ?? 0
    if (this.#position === -1) {
      this.#position = position
      return
    }
    if (position <= this.#position) return
    const touched = await this.#o.sql.query<{ type: string; tenant_id: string | null; key_id: string | null }>(
      `SELECT type, data->>'tenantId' AS tenant_id, data->>'keyId' AS key_id FROM event_store_events
       WHERE global_position > $1 AND global_position <= $2
         AND (type LIKE 'apikey.%' OR type LIKE 'credential.%' OR type LIKE 'tenant.%' OR type LIKE 'price_override.%'
              OR type LIKE 'rate_limit.%' OR type LIKE 'limits_policy.%' OR type LIKE 'budget.%' OR type LIKE 'credits.%' OR type LIKE 'cache_settings.%')`,
      [this.#position, position],
    )
    const tenants = new Set<string>()
    for (const event of touched.rows) {
      if (event.type.startsWith('apikey.')) {
        for (const [publicId, row] of this.#keys) if (row.id === event.key_id) this.#keys.delete(publicId)
      } else if (event.tenant_id !== null && this.#tenants.has(event.tenant_id)) tenants.add(event.tenant_id)
    }
    // A changed tenant is read again and replaced whole, never dropped: a call between the two must not find
    // it missing and fall back to defaults (the gateway's provider key for a BYOK-only tenant, no limits).
    for (const tenantId of tenants) this.#tenants.set(tenantId, await this.#readTenant(tenantId))
    this.#position = position
  }

  start(): void {
    const tick = () => {
      this.#polling = this.refresh()
        .catch((error: unknown) => this.#o.onError?.(error))
        .finally(() => {
          if (this.#timer !== undefined) this.#timer = setTimeout(tick, this.#o.pollIntervalMs ?? 200)
        })
    }
    this.#timer = setTimeout(tick, 0)
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#polling
  }
}
