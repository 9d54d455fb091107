import type { SealedSecret } from '../security/envelope-encryption.ts'
import { DomainError } from './decider.ts'
import type { Decider } from './decider.ts'

/**
 * The tenant's settings that are "set or removed" aggregates: provider credentials, budgets, credit
 * grants, alert rules and price overrides. Money is integer micro-USD.
 */

// ---- provider credential (one per tenant and provider) ----

export type CredentialEvent =
  | { type: 'credential.set'; data: { tenantId: string; provider: string; credentialId: string; sealed: SealedSecret; masked: string; baseUrl: string | null } }
  | { type: 'credential.rewrapped'; data: { tenantId: string; provider: string; credentialId: string; sealed: SealedSecret } }
  | { type: 'credential.deleted'; data: { tenantId: string; provider: string; credentialId: string } }

export type CredentialCommand =
  | { type: 'SetCredential'; tenantId: string; provider: string; credentialId: string; sealed: SealedSecret; masked: string; baseUrl: string | null }
  | { type: 'RewrapCredential'; sealed: SealedSecret }
  | { type: 'DeleteCredential' }

export type CredentialState = { active: false } | { active: true; tenantId: string; provider: string; credentialId: string; sealed: SealedSecret }

export const credentialDecider: Decider<CredentialCommand, CredentialEvent, CredentialState> = {
  initialState: () => ({ active: false }),
  evolve(state, event) {
    if (event.type === 'credential.deleted') return { active: false }
    if (event.type === 'credential.set') return { active: true, tenantId: event.data.tenantId, provider: event.data.provider, credentialId: event.data.credentialId, sealed: event.data.sealed }
    return state.active ? { ...state, sealed: event.data.sealed } : state
  },
  decide(command, state) {
    if (command.type === 'SetCredential') {
      const { type: _type, ...data } = command
      return [{ type: 'credential.set', data }]
    }
    if (!state.active) throw new DomainError('not_found', 'No credential is set for this provider')
    if (command.type === 'RewrapCredential') {
      return [{ type: 'credential.rewrapped', data: { tenantId: state.tenantId, provider: state.provider, credentialId: state.credentialId, sealed: command.sealed } }]
    }
    return [{ type: 'credential.deleted', data: { tenantId: state.tenantId, provider: state.provider, credentialId: state.credentialId } }]
  },
}

// ---- budget (one per tenant, scope and period) ----

export type BudgetPeriod = 'day' | 'month'
export type BudgetEvent =
  | { type: 'budget.set'; data: { tenantId: string; scope: string; period: BudgetPeriod; limitMicroUsd: number } }
  | { type: 'budget.removed'; data: { tenantId: string; scope: string; period: BudgetPeriod } }
export type BudgetCommand = { type: 'SetBudget'; tenantId: string; scope: string; period: BudgetPeriod; limitMicroUsd: number } | { type: 'RemoveBudget'; tenantId: string; scope: string; period: BudgetPeriod }
export type BudgetState = { active: boolean }

export const budgetDecider: Decider<BudgetCommand, BudgetEvent, BudgetState> = {
  initialState: () => ({ active: false }),
  evolve: (_state, event) => ({ active: event.type === 'budget.set' }),
  decide(command, state) {
    if (command.type === 'SetBudget') {
      if (!Number.isSafeInteger(command.limitMicroUsd) || command.limitMicroUsd < 0) {
        throw new DomainError('invalid', 'limitMicroUsd must be a whole number of micro-USD, not negative', 'limitMicroUsd')
      }
      const { type: _type, ...data } = command
      return [{ type: 'budget.set', data }]
    }
    if (!state.active) throw new DomainError('not_found', 'No such budget')
    const { type: _type, ...data } = command
    return [{ type: 'budget.removed', data }]
  },
}

// ---- rate limits (one per tenant and scope) ----

/** Per minute and at once, for one scope; null: no limit of that kind at this scope. */
export interface RateLimitDefinition {
  requestsPerMinute: number | null
  tokensPerMinute: number | null
  concurrentRequests: number | null
}
export type RateLimitEvent =
  | { type: 'rate_limit.set'; data: { tenantId: string; scope: string; limits: RateLimitDefinition } }
  | { type: 'rate_limit.removed'; data: { tenantId: string; scope: string } }
export type RateLimitCommand = { type: 'SetRateLimit'; tenantId: string; scope: string; limits: RateLimitDefinition } | { type: 'RemoveRateLimit'; tenantId: string; scope: string }

export const rateLimitDecider: Decider<RateLimitCommand, RateLimitEvent, { active: boolean }> = {
  initialState: () => ({ active: false }),
  evolve: (_state, event) => ({ active: event.type === 'rate_limit.set' }),
  decide(command, state) {
    if (command.type === 'SetRateLimit') {
      for (const [field, value] of Object.entries(command.limits)) {
        if (value !== null && (!Number.isSafeInteger(value) || value < 1)) throw new DomainError('invalid', `${field} must be a positive whole number or null`, field)
      }
      if (Object.values(command.limits).every((v) => v === null)) throw new DomainError('invalid', 'Set at least one of requestsPerMinute, tokensPerMinute, concurrentRequests')
      const { type: _type, ...data } = command
      return [{ type: 'rate_limit.set', data }]
    }
    if (!state.active) throw new DomainError('not_found', 'No rate limit is set for this scope')
    const { type: _type, ...data } = command
    return [{ type: 'rate_limit.removed', data }]
  },
}

// ---- limits policy (one per tenant) ----

/** What the gateway does with a tenant's calls while the shared limiter (Redis) cannot be reached. */
export type LimiterUnavailablePolicy = 'fail_open' | 'fail_closed'
export type LimitsPolicyEvent = { type: 'limits_policy.set'; data: { tenantId: string; onLimiterUnavailable: LimiterUnavailablePolicy } }
export type LimitsPolicyCommand = { type: 'SetLimitsPolicy'; tenantId: string; onLimiterUnavailable: LimiterUnavailablePolicy }

export const limitsPolicyDecider: Decider<LimitsPolicyCommand, LimitsPolicyEvent, { policy: LimiterUnavailablePolicy | null }> = {
  initialState: () => ({ policy: null }),
  evolve: (_state, event) => ({ policy: event.data.onLimiterUnavailable }),
  decide(command, state) {
    if (command.onLimiterUnavailable === state.policy) return []
    const { type: _type, ...data } = command
    return [{ type: 'limits_policy.set', data }]
  },
}

// ---- response cache settings (one per tenant) ----

export interface CacheSettings {
  /** off: no caching; exact: identical requests; semantic: also requests whose last user message means the same. */
  mode: 'off' | 'exact' | 'semantic'
  ttlSeconds: number
  /** Live entries kept per tenant; the least recently used go first. */
  maxEntries: number
  /** Cosine similarity a semantic hit needs, 0 to 1. */
  similarityThreshold: number
  /** Per `provider/model`, overriding similarityThreshold. */
  modelThresholds: Record<string, number>
  /** Entries shared only within a project (the key's), rather than across the tenant. */
  perProject: boolean
  /** Semantic reuse for requests that carry tools (off: exact only). */
  semanticWithTools: boolean
  /** Semantic reuse only up to this temperature (an unset temperature counts as 1, the providers' default). */
  semanticMaxTemperature: number
  /** Where prompt embeddings come from: the gateway's offline embedder, or a provider model through the tenant's own routing and keys (billed). */
  embeddingModel: string
}

export const DEFAULT_CACHE_SETTINGS: CacheSettings = {
  mode: 'off',
  ttlSeconds: 3600,
  maxEntries: 10_000,
  similarityThreshold: 0.9,
  modelThresholds: {},
  perProject: false,
  semanticWithTools: false,
  semanticMaxTemperature: 0.5,
  embeddingModel: 'local',
}

export type CacheSettingsEvent = { type: 'cache_settings.set'; data: { tenantId: string; settings: CacheSettings } }
export type CacheSettingsCommand = { type: 'SetCacheSettings'; tenantId: string; settings: CacheSettings }

export const cacheSettingsDecider: Decider<CacheSettingsCommand, CacheSettingsEvent, { settings: CacheSettings | null }> = {
  initialState: () => ({ settings: null }),
  evolve: (_state, event) => ({ settings: event.data.settings }),
  decide(command) {
    const s = command.settings
    if (!Number.isSafeInteger(s.ttlSeconds) || s.ttlSeconds < 1) throw new DomainError('invalid', 'ttlSeconds must be a positive whole number', 'ttlSeconds')
    if (!Number.isSafeInteger(s.maxEntries) || s.maxEntries < 1) throw new DomainError('invalid', 'maxEntries must be a positive whole number', 'maxEntries')
    for (const [model, t] of [['', s.similarityThreshold] as const, ...Object.entries(s.modelThresholds)]) {
      if (!(t >= 0 && t <= 1)) throw new DomainError('invalid', `similarity thresholds are between 0 and 1${model === '' ? '' : ` (${model})`}`, model === '' ? 'similarityThreshold' : 'modelThresholds')
    }
    return [{ type: 'cache_settings.set', data: { tenantId: command.tenantId, settings: s } }]
  },
}

// ---- credit grants (one stream per tenant) ----

export type CreditEvent = { type: 'credits.granted'; data: { tenantId: string; grantId: string; amountMicroUsd: number; reason: string | null } }
export type CreditCommand = { type: 'GrantCredits'; tenantId: string; grantId: string; amountMicroUsd: number; reason: string | null }

export const creditDecider: Decider<CreditCommand, CreditEvent, { grants: number }> = {
  initialState: () => ({ grants: 0 }),
  evolve: (state) => ({ grants: state.grants + 1 }),
  decide(command) {
    if (!Number.isSafeInteger(command.amountMicroUsd) || command.amountMicroUsd <= 0) {
      throw new DomainError('invalid', 'amountMicroUsd must be a positive whole number of micro-USD', 'amountMicroUsd')
    }
    const { type: _type, ...data } = command
    return [{ type: 'credits.granted', data }]
  },
}

// ---- alert rules ----

export interface AlertRuleDefinition {
  kind: 'budget_percent' | 'absolute_spend' | 'spend_rate'
  scope: string
  /** budget_percent: whole percent; absolute_spend: micro-USD; spend_rate: micro-USD per hour. */
  threshold: number
  period: BudgetPeriod
  webhookUrl: string | null
}
export type AlertRuleEvent =
  | { type: 'alert_rule.created'; data: { tenantId: string; ruleId: string; rule: AlertRuleDefinition } }
  | { type: 'alert_rule.deleted'; data: { tenantId: string; ruleId: string } }
export type AlertRuleCommand = { type: 'CreateAlertRule'; tenantId: string; ruleId: string; rule: AlertRuleDefinition } | { type: 'DeleteAlertRule' }
export type AlertRuleState = { exists: false } | { exists: true; tenantId: string; ruleId: string; deleted: boolean }

export const alertRuleDecider: Decider<AlertRuleCommand, AlertRuleEvent, AlertRuleState> = {
  initialState: () => ({ exists: false }),
  evolve(state, event) {
    if (event.type === 'alert_rule.created') return { exists: true, tenantId: event.data.tenantId, ruleId: event.data.ruleId, deleted: false }
    return state.exists ? { ...state, deleted: true } : state
  },
  decide(command, state) {
    if (command.type === 'CreateAlertRule') {
      if (state.exists) throw new DomainError('conflict', 'Alert rule exists already')
      if (!Number.isSafeInteger(command.rule.threshold) || command.rule.threshold <= 0) throw new DomainError('invalid', 'threshold must be a positive whole number', 'threshold')
      if (command.rule.kind === 'budget_percent' && command.rule.threshold > 1000) throw new DomainError('invalid', 'threshold is a percentage, at most 1000', 'threshold')
      const { type: _type, ...data } = command
      return [{ type: 'alert_rule.created', data }]
    }
    if (!state.exists || state.deleted) throw new DomainError('not_found', 'No such alert rule')
    return [{ type: 'alert_rule.deleted', data: { tenantId: state.tenantId, ruleId: state.ruleId } }]
  },
}

// ---- price overrides (one per tenant and model) ----

export interface PriceOverride {
  inputMicroUsdPerMillion: number | null
  outputMicroUsdPerMillion: number | null
  cachedInputMicroUsdPerMillion: number | null
  /** Added on top of the price, in basis points (100 = 1%). */
  markupBasisPoints: number
}
export type PriceOverrideEvent =
  | { type: 'price_override.set'; data: { tenantId: string; model: string; price: PriceOverride } }
  | { type: 'price_override.removed'; data: { tenantId: string; model: string } }
export type PriceOverrideCommand = { type: 'SetPriceOverride'; tenantId: string; model: string; price: PriceOverride } | { type: 'RemovePriceOverride'; tenantId: string; model: string }

export const priceOverrideDecider: Decider<PriceOverrideCommand, PriceOverrideEvent, { active: boolean }> = {
  initialState: () => ({ active: false }),
  evolve: (_state, event) => ({ active: event.type === 'price_override.set' }),
  decide(command, state) {
    if (command.type === 'SetPriceOverride') {
      const p = command.price
      for (const [field, value] of Object.entries(p)) {
        if (value !== null && (!Number.isSafeInteger(value) || value < 0)) throw new DomainError('invalid', `${field} must be a whole number, not negative`, field)
      }
      const { type: _type, ...data } = command
      return [{ type: 'price_override.set', data }]
    }
    if (!state.active) throw new DomainError('not_found', 'No such price override')
    return [{ type: 'price_override.removed', data: { tenantId: command.tenantId, model: command.model } }]
  },
}
