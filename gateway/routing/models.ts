import { GatewayError } from '../errors.ts'
import type { Principal } from '../auth/api-keys.ts'
import type { ProviderAdapter, ProviderName } from '../providers/types.ts'

export interface ResolvedModel {
  provider: ProviderAdapter
  /** The provider's own model id. */
  model: string
  /** `provider/model`: how the gateway names it in listings, logs and events. */
  qualified: string
}

export interface ModelRouterOptions {
  adapters: readonly ProviderAdapter[]
  aliases: Readonly<Record<string, string>>
  /** Providers with a credential for this caller (gateway-hosted or its tenant's own); others' models are not found. */
  isAvailable(provider: ProviderName, principal: Principal): boolean
}

/** Whether a `provider/model` id matches an allow-list pattern (`*`, `provider/*`, `provider/model-prefix*`, exact). */
export function matchesPattern(qualified: string, pattern: string): boolean {
  if (pattern === '*') return true
  if (pattern.endsWith('*')) return qualified.startsWith(pattern.slice(0, -1))
  return qualified === pattern
}

/**
 * Resolves what a request names in `model`: an alias from configuration, `provider/model`, or a bare id
 * that one provider's prefixes claim ("gpt-4o" → openai). Unknown, unavailable and forbidden models all
 * answer OpenAI's 404 `model_not_found`.
 */
export class ModelRouter {
  readonly #byName = new Map<string, ProviderAdapter>()
  readonly #prefixes: { prefix: string; adapter: ProviderAdapter }[]
  readonly #options: ModelRouterOptions

  constructor(options: ModelRouterOptions) {
    this.#options = options
    for (const adapter of options.adapters) this.#byName.set(adapter.name, adapter)
    this.#prefixes = options.adapters
      .flatMap((adapter) => adapter.modelPrefixes.map((prefix) => ({ prefix, adapter })))
      .sort((a, b) => b.prefix.length - a.prefix.length)
  }

  resolve(requested: string, principal: Principal, param = 'model'): ResolvedModel {
    // Own aliases only: `__proto__` or `constructor` must not find Object.prototype's members.
    const target = Object.hasOwn(this.#options.aliases, requested) ? this.#options.aliases[requested]! : requested
    const resolved = this.#parse(target)
    if (resolved === undefined || !this.#options.isAvailable(resolved.provider.name, principal)) {
      throw new GatewayError('model_not_found', `The model '${requested}' does not exist or you do not have access to it.`, param)
    }
    const allowed = principal.allowedModels
    if (allowed !== undefined && !allowed.some((p) => matchesPattern(resolved.qualified, p) || p === requested)) {
      // As OpenAI does: a model the key may not use is indistinguishable from one that does not exist.
      throw new GatewayError('model_not_found', `The model '${requested}' does not exist or you do not have access to it.`, param)
    }
    return resolved
  }

  /** `provider/model` that `requested` names (an alias's target, a prefixed id), whoever asks; undefined if none. */
  qualify(requested: string): string | undefined {
    const target = Object.hasOwn(this.#options.aliases, requested) ? this.#options.aliases[requested]! : requested
    return this.#parse(target)?.qualified
  }

  #parse(target: string): ResolvedModel | undefined {
    const slash = target.indexOf('/')
    if (slash > 0) {
      const provider = this.#byName.get(target.slice(0, slash))
      const model = target.slice(slash + 1)
      if (provider !== undefined && model !== '') return { provider, model, qualified: target }
    }
    const claimed = this.#prefixes.find((p) => target.startsWith(p.prefix))
    return claimed === undefined ? undefined : { provider: claimed.adapter, model: target, qualified: `${claimed.adapter.name}/${target}` }
  }

  /** The models this key may use, for GET /v1/models: every listed model of every available provider, and the aliases. */
  list(principal: Principal, kind?: 'chat' | 'embedding'): { id: string; provider: ProviderName; kind: 'chat' | 'embedding' }[] {
    const out: { id: string; provider: ProviderName; kind: 'chat' | 'embedding' }[] = []
    const permitted = (qualified: string, asNamed: string) =>
      principal.allowedModels === undefined || principal.allowedModels.some((p) => matchesPattern(qualified, p) || p === asNamed)
    for (const adapter of this.#options.adapters) {
      if (!this.#options.isAvailable(adapter.name, principal)) continue
      for (const model of adapter.models) {
        const qualified = `${adapter.name}/${model.id}`
        if ((kind === undefined || kind === model.kind) && permitted(qualified, qualified)) out.push({ id: qualified, provider: adapter.name, kind: model.kind })
      }
    }
    for (const [alias, target] of Object.entries(this.#options.aliases)) {
      const resolved = this.#parse(target)
      if (resolved === undefined || !this.#options.isAvailable(resolved.provider.name, principal) || !permitted(resolved.qualified, alias)) continue
      const kind = resolved.provider.models.find((m) => m.id === resolved.model)?.kind ?? 'chat'
      out.push({ id: alias, provider: resolved.provider.name, kind })
    }
    return out
  }
}
