import { createHash, randomBytes } from 'node:crypto'
import type { Actor } from '../../events/envelope.ts'
import { WrongExpectedVersionError } from '../../events/event-store.ts'
import type { EventStore } from '../../events/event-store.ts'
import { uuidv7 } from '../../events/ids.ts'
import type { SqlExecutor, SqlStore } from '../../infra/postgres/sql-store.ts'
import type { ControlProjector } from '../../projections/control/control-projector.ts'
import { webhookSecret } from '../../projections/alerts/webhooks.ts'
import { maskSecret, rewrapSecret, sealSecret } from '../security/envelope-encryption.ts'
import type { MasterKey, SealedSecret } from '../security/envelope-encryption.ts'
import { DomainError, fold } from './decider.ts'
import type { Decider } from './decider.ts'
import { apiKeyDecider } from './keys.ts'
import type { KeyScope } from './keys.ts'
import type { Role } from './roles.ts'
import { alertRuleDecider, budgetDecider, cacheSettingsDecider, creditDecider, credentialDecider, limitsPolicyDecider, priceOverrideDecider, rateLimitDecider } from './settings.ts'
import type { AlertRuleDefinition, BudgetPeriod, CacheSettings, LimiterUnavailablePolicy, PriceOverride, RateLimitDefinition } from './settings.ts'
import { memberDecider, projectDecider, tenantDecider } from './tenancy.ts'
import type { KeyMode } from './tenancy.ts'

/** Who issued a command, from where and why: stored with every event it produces (the audit trail). */
export interface CommandContext {
  actor: Actor
  sourceIp: string | null
  userAgent: string | null
  reason: string | null
  correlationId: string | null
}

export interface ControlPlaneOptions {
  eventStore: EventStore
  sql: SqlStore
  projector: ControlProjector
  masterKeys: () => readonly MasterKey[]
  /** Called after every successful append, e.g. to wake the outbox relay. */
  onAppended?: () => void
  now?: () => Date
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')
const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
function base62(bytes: number): string {
  let out = ''
  for (const byte of randomBytes(bytes)) out += BASE62[byte % 62]
  return out
}

/** A new API key: `sg_<publicId>_<secret>`; the public id finds it in O(1), only the secret's hash is kept. */
export function newApiKeySecret(publicId = base62(12)): { publicId: string; key: string; hash: string } {
  const key = `sg_${publicId}_${base62(43)}`
  return { publicId, key, hash: sha256(key) }
}

export function hashApiKey(key: string): string {
  return sha256(key)
}

/**
 * The control plane's use cases: each command is decided against its aggregate's events and appended
 * with the expected version (a concurrent edit loses with a 409); the read models are caught up before
 * the call returns, so the caller reads its own write.
 */
export class ControlPlane {
  readonly #o: ControlPlaneOptions

  constructor(options: ControlPlaneOptions) {
    this.#o = options
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date()
  }

  async #execute<C, E extends { type: string; data: unknown }, S>(
    decider: Decider<C, E, S>,
    streamId: string,
    tenantId: string,
    command: C,
    ctx: CommandContext,
  ): Promise<E[]> {
    const stored = await this.#o.eventStore.readStream(streamId)
    const state = fold(decider, stored.map((e) => ({ type: e.type, data: e.data }) as E))
    const events = decider.decide(command, state)
    if (events.length === 0) return events
    const occurredAt = this.#now().toISOString()
    try {
      const result = await this.#o.eventStore.appendToStream(
        streamId,
        events.map((e) => ({
          id: uuidv7(),
          type: e.type,
          data: e.data,
          metadata: { tenantId, ...ctx, occurredAt, version: 1 },
        })),
        stored.length === 0 ? 'no_stream' : stored.length,
      )
      await this.#o.projector.catchUp(result.lastGlobalPosition)
    } catch (error) {
      if (error instanceof WrongExpectedVersionError) {
        throw new DomainError('conflict', 'Someone else changed this resource at the same time; read it again and retry')
      }
      throw error
    }
    this.#o.onAppended?.()
    return events
  }

  /** Reads as the tenant, through Row-Level Security: a query can only ever see this tenant's rows. */
  async readAsTenant<T>(tenantId: string, read: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.#o.sql.transaction(async (tx) => {
      await tx.query('SET LOCAL ROLE supergate_app')
      return read(tx)
    }, { tenantId })
  }

  async tenantExists(tenantId: string): Promise<boolean> {
    return this.readAsTenant(tenantId, async (tx) => (await tx.query('SELECT 1 FROM tenants WHERE id = $1', [tenantId])).rows.length === 1)
  }

  async createTenant(input: { name: string; keyMode?: KeyMode }, ctx: CommandContext): Promise<{ id: string; name: string; keyMode: KeyMode }> {
    const tenantId = `ten_${base62(16)}`
    const keyMode = input.keyMode ?? 'gateway'
    await this.#execute(tenantDecider, `tenant-${tenantId}`, tenantId, { type: 'CreateTenant', tenantId, name: input.name, keyMode }, ctx)
    return { id: tenantId, name: input.name, keyMode }
  }

  async updateTenant(tenantId: string, input: { name?: string; keyMode?: KeyMode }, ctx: CommandContext): Promise<void> {
    if (input.name !== undefined) await this.#execute(tenantDecider, `tenant-${tenantId}`, tenantId, { type: 'RenameTenant', name: input.name }, ctx)
    if (input.keyMode !== undefined) await this.#execute(tenantDecider, `tenant-${tenantId}`, tenantId, { type: 'SetKeyMode', keyMode: input.keyMode }, ctx)
  }

  async createProject(tenantId: string, name: string, ctx: CommandContext): Promise<{ id: string; name: string }> {
    const projectId = `prj_${base62(16)}`
    await this.#execute(projectDecider, `project-${projectId}`, tenantId, { type: 'CreateProject', tenantId, projectId, name }, ctx)
    return { id: projectId, name }
  }

  async archiveProject(tenantId: string, projectId: string, ctx: CommandContext): Promise<void> {
    await this.#requireOwned('projects', tenantId, projectId, 'project')
    await this.#execute(projectDecider, `project-${projectId}`, tenantId, { type: 'ArchiveProject' }, ctx)
  }

  async addMember(tenantId: string, input: { email: string; role: Role }, ctx: CommandContext): Promise<{ id: string; email: string; role: Role }> {
    const memberId = `mem_${sha256(`${tenantId}:${input.email.toLowerCase()}`).slice(0, 16)}`
    await this.#execute(memberDecider, `member-${tenantId}-${memberId}`, tenantId, { type: 'AddMember', tenantId, memberId, email: input.email, role: input.role }, ctx)
    return { id: memberId, email: input.email, role: input.role }
  }

  async changeMemberRole(tenantId: string, memberId: string, role: Role, ctx: CommandContext): Promise<void> {
    await this.#execute(memberDecider, `member-${tenantId}-${memberId}`, tenantId, { type: 'ChangeRole', role }, ctx)
  }

  async removeMember(tenantId: string, memberId: string, ctx: CommandContext): Promise<void> {
    await this.#execute(memberDecider, `member-${tenantId}-${memberId}`, tenantId, { type: 'RemoveMember' }, ctx)
  }

  async issueKey(tenantId: string, input: { name: string; role: Role; scope: KeyScope }, ctx: CommandContext): Promise<{ id: string; key: string }> {
    if (input.scope.projectId !== null) await this.#requireOwned('projects', tenantId, input.scope.projectId, 'project', 'projectId')
    const keyId = `key_${base62(16)}`
    const secret = newApiKeySecret()
    await this.#execute(
      apiKeyDecider,
      `apikey-${keyId}`,
      tenantId,
      { type: 'IssueKey', tenantId, keyId, publicId: secret.publicId, name: input.name, role: input.role, secretHash: secret.hash, scope: input.scope, now: this.#now() },
      ctx,
    )
    return { id: keyId, key: secret.key }
  }

  async rotateKey(tenantId: string, keyId: string, graceSeconds: number, ctx: CommandContext): Promise<{ id: string; key: string; previousKeyValidUntil: string }> {
    const publicId = await this.readAsTenant(tenantId, async (tx) => (await tx.query<{ public_id: string }>('SELECT public_id FROM api_keys WHERE id = $1', [keyId])).rows[0]?.public_id)
    if (publicId === undefined) throw new DomainError('not_found', 'No such key')
    // The public id stays, so the key keeps its identity; the old secret works until the grace period ends.
    const secret = newApiKeySecret(publicId)
    const now = this.#now()
    await this.#execute(apiKeyDecider, `apikey-${keyId}`, tenantId, { type: 'RotateKey', secretHash: secret.hash, now, graceSeconds }, ctx)
    return { id: keyId, key: secret.key, previousKeyValidUntil: new Date(now.getTime() + graceSeconds * 1000).toISOString() }
  }

  async revokeKey(tenantId: string, keyId: string, ctx: CommandContext): Promise<void> {
    await this.#requireOwned('api_keys', tenantId, keyId, 'key')
    await this.#execute(apiKeyDecider, `apikey-${keyId}`, tenantId, { type: 'RevokeKey' }, ctx)
  }

  async setCredential(tenantId: string, provider: string, input: { apiKey: string; baseUrl: string | null }, ctx: CommandContext): Promise<{ provider: string; masked: string; baseUrl: string | null }> {
    const masterKeys = this.#o.masterKeys()
    if (masterKeys.length === 0) throw new DomainError('invalid', 'No master key is configured (SUPERGATE_MASTER_KEY): provider credentials cannot be stored')
    const credentialId = `cred_${base62(16)}`
    const sealed = sealSecret(input.apiKey, { tenantId, provider, credentialId }, masterKeys)
    const masked = maskSecret(input.apiKey)
    await this.#execute(credentialDecider, `credential-${tenantId}-${provider}`, tenantId, { type: 'SetCredential', tenantId, provider, credentialId, sealed, masked, baseUrl: input.baseUrl }, ctx)
    return { provider, masked, baseUrl: input.baseUrl }
  }

  async deleteCredential(tenantId: string, provider: string, ctx: CommandContext): Promise<void> {
    await this.#execute(credentialDecider, `credential-${tenantId}-${provider}`, tenantId, { type: 'DeleteCredential' }, ctx)
  }

  /** Master-key rotation: re-wraps every credential's data key under the newest master key; payloads stay as they are. */
  async rewrapAllCredentials(ctx: CommandContext): Promise<{ rewrapped: number }> {
    const masterKeys = this.#o.masterKeys()
    const newest = masterKeys.at(-1)?.version
    const rows = await this.#o.sql.query<{ tenant_id: string; provider: string; credential_id: string; sealed: SealedSecret }>(
      'SELECT tenant_id, provider, credential_id, sealed FROM provider_credentials ORDER BY tenant_id, provider',
    )
    let rewrapped = 0
    for (const row of rows.rows) {
      if (row.sealed.masterKeyVersion === newest) continue
      const sealed = rewrapSecret(row.sealed, { tenantId: row.tenant_id, provider: row.provider, credentialId: row.credential_id }, masterKeys)
      await this.#execute(credentialDecider, `credential-${row.tenant_id}-${row.provider}`, row.tenant_id, { type: 'RewrapCredential', sealed }, ctx)
      rewrapped++
    }
    return { rewrapped }
  }

  /**
   * The secret a tenant's webhook receivers verify signatures with: derived from the newest master key,
   * so rotating the master key changes it (receivers must then be given the new one).
   */
  webhookSecret(tenantId: string): string {
    const newest = [...this.#o.masterKeys()].sort((a, b) => b.version - a.version)[0]
    if (newest === undefined) throw new DomainError('invalid', 'No master key is configured (SUPERGATE_MASTER_KEY): webhooks cannot be signed')
    return webhookSecret(newest.key, tenantId)
  }

  async grantCredits(tenantId: string, input: { amountMicroUsd: number; reason: string | null }, ctx: CommandContext): Promise<{ id: string; amountMicroUsd: number }> {
    const grantId = `grant_${base62(16)}`
    await this.#execute(creditDecider, `credits-${tenantId}`, tenantId, { type: 'GrantCredits', tenantId, grantId, amountMicroUsd: input.amountMicroUsd, reason: input.reason }, ctx)
    return { id: grantId, amountMicroUsd: input.amountMicroUsd }
  }

  async setBudget(tenantId: string, scope: string, input: { period: BudgetPeriod; limitMicroUsd: number }, ctx: CommandContext): Promise<void> {
    await this.#requireScope(tenantId, scope)
    await this.#execute(budgetDecider, `budget-${tenantId}-${scope}-${input.period}`, tenantId, { type: 'SetBudget', tenantId, scope, ...input }, ctx)
  }

  async removeBudget(tenantId: string, scope: string, period: BudgetPeriod, ctx: CommandContext): Promise<void> {
    await this.#execute(budgetDecider, `budget-${tenantId}-${scope}-${period}`, tenantId, { type: 'RemoveBudget', tenantId, scope, period }, ctx)
  }

  async setRateLimit(tenantId: string, scope: string, limits: RateLimitDefinition, ctx: CommandContext): Promise<void> {
    await this.#requireScope(tenantId, scope)
    await this.#execute(rateLimitDecider, `rate-limit-${tenantId}-${scope}`, tenantId, { type: 'SetRateLimit', tenantId, scope, limits }, ctx)
  }

  async removeRateLimit(tenantId: string, scope: string, ctx: CommandContext): Promise<void> {
    await this.#execute(rateLimitDecider, `rate-limit-${tenantId}-${scope}`, tenantId, { type: 'RemoveRateLimit', tenantId, scope }, ctx)
  }

  async setLimitsPolicy(tenantId: string, onLimiterUnavailable: LimiterUnavailablePolicy, ctx: CommandContext): Promise<void> {
    await this.#execute(limitsPolicyDecider, `limits-policy-${tenantId}`, tenantId, { type: 'SetLimitsPolicy', tenantId, onLimiterUnavailable }, ctx)
  }

  async setCacheSettings(tenantId: string, settings: CacheSettings, ctx: CommandContext): Promise<void> {
    await this.#execute(cacheSettingsDecider, `cache-settings-${tenantId}`, tenantId, { type: 'SetCacheSettings', tenantId, settings }, ctx)
  }

  async createAlertRule(tenantId: string, rule: AlertRuleDefinition, ctx: CommandContext): Promise<{ id: string }> {
    await this.#requireScope(tenantId, rule.scope)
    const ruleId = `alr_${base62(16)}`
    await this.#execute(alertRuleDecider, `alert-rule-${ruleId}`, tenantId, { type: 'CreateAlertRule', tenantId, ruleId, rule }, ctx)
    return { id: ruleId }
  }

  async deleteAlertRule(tenantId: string, ruleId: string, ctx: CommandContext): Promise<void> {
    await this.#requireOwned('alert_rules', tenantId, ruleId, 'alert rule')
    await this.#execute(alertRuleDecider, `alert-rule-${ruleId}`, tenantId, { type: 'DeleteAlertRule' }, ctx)
  }

  async setPriceOverride(tenantId: string, model: string, price: PriceOverride, ctx: CommandContext): Promise<void> {
    await this.#execute(priceOverrideDecider, `price-override-${tenantId}-${model}`, tenantId, { type: 'SetPriceOverride', tenantId, model, price }, ctx)
  }

  async removePriceOverride(tenantId: string, model: string, ctx: CommandContext): Promise<void> {
    await this.#execute(priceOverrideDecider, `price-override-${tenantId}-${model}`, tenantId, { type: 'RemovePriceOverride', tenantId, model }, ctx)
  }

  /** Ids are global: a row of another tenant is invisible under RLS, so it is "not found", never "forbidden". */
  async #requireOwned(table: 'projects' | 'api_keys' | 'alert_rules', tenantId: string, id: string, what: string, param: string | null = null): Promise<void> {
    const found = await this.readAsTenant(tenantId, async (tx) => (await tx.query(`SELECT 1 FROM ${table} WHERE id = $1`, [id])).rows.length)
    if (found === 0) throw new DomainError('not_found', `No such ${what}`, param)
  }

  /** A budget or alert scope: `tenant`, `project:<id>` or `key:<id>` of this tenant. */
  async #requireScope(tenantId: string, scope: string): Promise<void> {
    if (scope === 'tenant') return
    const match = /^(project|key):(.+)$/.exec(scope)
    if (match === null) throw new DomainError('invalid', 'scope must be tenant, project:<id> or key:<id>', 'scope')
    await this.#requireOwned(match[1] === 'project' ? 'projects' : 'api_keys', tenantId, match[2]!, match[1]!, 'scope')
  }
}
