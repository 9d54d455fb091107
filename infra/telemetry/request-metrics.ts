import type { UsageRecord } from '../../gateway/proxy/usage.ts'
import type { UpstreamFailure } from '../../gateway/upstream/client.ts'

/** Seconds; from a cache hit (a few ms) to a long reasoning call. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
const TTFT_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30]
/** Where tenants past the series cap are counted, so that a family's size stays bounded. */
export const OTHER_TENANTS = '_other'

export interface RequestMetricsOptions {
  /** Label requests and spend with the API key's id too (SUPERGATE_METRICS_KEY_LABELS). Off: one series per tenant, not per key. */
  keyLabels?: boolean
  /** Label sets per family before further tenants are counted as `_other`. */
  maxSeries?: number
  /** `provider/model` of every listed model and alias target: labels that need no room. */
  catalogue?: ReadonlySet<string>
  /** `provider/model` a requested name resolves to (an alias, a bare id), for a call that failed before routing. */
  qualify?: (requested: string) => string | undefined
}

interface Usage {
  labels: string
  statuses: Map<number, number>
  prompt: number
  completion: number
  cached: number
  reasoning: number
  spend: number
  cacheLookups: Map<string, number>
  saved: number
}

interface Histogram {
  labels: string
  counts: number[]
  sum: number
  count: number
}

function escape(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))
}

function labelText(pairs: Record<string, string>): string {
  return Object.entries(pairs).map(([name, value]) => `${name}="${escape(value)}"`).join(',')
}

/** Models outside the catalogue that get a label of their own (fine-tuned ids, pass-through names); later ones are `other`. */
export const MAX_UNLISTED_MODELS = 100

/**
 * Per-request figures for /metrics, kept in plain maps keyed by one string per label set and written out as
 * Prometheus text only when scraped: recording a call is a few map lookups and additions, off the answer's
 * path (the meter runs once the call is answered). prom-client's labelled metrics hash a label object on
 * every update instead, which a gateway pays on every request.
 */
export class RequestMetrics {
  readonly #keyLabels: boolean
  readonly #maxSeries: number
  readonly #catalogue: ReadonlySet<string>
  readonly #qualify: (requested: string) => string | undefined
  readonly #unlisted = new Set<string>()
  readonly #usage = new Map<string, Usage>()
  readonly #durations = new Map<string, Histogram>()
  readonly #ttft = new Map<string, Histogram>()
  readonly #rejections = new Map<string, { labels: string; n: number }>()
  readonly #upstreamErrors = new Map<string, { labels: string; n: number }>()

  constructor(options: RequestMetricsOptions = {}) {
    this.#keyLabels = options.keyLabels ?? false
    this.#maxSeries = options.maxSeries ?? 10_000
    this.#catalogue = options.catalogue ?? new Set()
    this.#qualify = options.qualify ?? ((requested) => (requested.includes('/') ? requested : undefined))
  }

  /** A call that reached routing, answered from a provider or the cache, or failed there. */
  metered(entry: UsageRecord, costMicroUsd: number): void {
    const { provider, model } = this.#route(entry)
    const usage = this.#usageSeries(entry, provider, model)
    usage.statuses.set(entry.httpStatus, (usage.statuses.get(entry.httpStatus) ?? 0) + 1)
    const u = entry.usage
    if (u !== undefined) {
      usage.prompt += u.promptTokens
      usage.completion += u.completionTokens
      usage.cached += u.cachedTokens
      usage.reasoning += u.reasoningTokens
    }
    usage.spend += costMicroUsd
    const cache = entry.cache
    if (cache !== undefined) {
      usage.cacheLookups.set(cache.outcome, (usage.cacheLookups.get(cache.outcome) ?? 0) + 1)
      if (cache.outcome !== 'miss') usage.saved += cache.savedMicroUsd
    }
    const routeKey = `${provider}\u001f${model}\u001f${entry.endpoint}`
    observe(this.#durations, routeKey, DURATION_BUCKETS, () => labelText({ provider, model, endpoint: entry.endpoint }), entry.latencyMs / 1000)
    if (entry.timeToFirstTokenMs !== undefined) {
      observe(this.#ttft, routeKey, TTFT_BUCKETS, () => labelText({ provider, model, endpoint: entry.endpoint }), entry.timeToFirstTokenMs / 1000)
    }
  }

  /** A call refused before any provider: bad key, rate limit, budget, invalid request. */
  rejected(entry: UsageRecord, reason: string): void {
    const suffix = `\u001f${reason}\u001f${entry.httpStatus}`
    const series = this.#series(this.#rejections, entry.tenantId, () => suffix, (tenant) => ({ labels: labelText({ tenant, reason, status: String(entry.httpStatus) }), n: 0 }))
    series.n++
  }

  /** An attempt that failed upstream (retried, or falling back), by what went wrong. */
  upstreamFailure(provider: string, failure: UpstreamFailure): void {
    const kind = failureKind(failure)
    const key = `${provider}\u001f${kind}`
    const series = this.#upstreamErrors.get(key) ?? { labels: labelText({ provider, kind }), n: 0 }
    series.n++
    this.#upstreamErrors.set(key, series)
  }

  /** The families in Prometheus' text format (0.0.4). */
  text(): string {
    const out: string[] = []
    const family = (name: string, type: string, help: string, lines: string[]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines)
    }
    const usage = [...this.#usage.values()]
    family('supergate_requests_total', 'counter', 'Calls that reached routing, by tenant, provider, model, endpoint and the HTTP status the client got.',
      usage.flatMap((u) => [...u.statuses].map(([status, n]) => `supergate_requests_total{${u.labels},status="${status}"} ${n}`)))
    family('supergate_tokens_total', 'counter', 'Tokens of calls, by tenant, provider, model, endpoint and type (prompt, completion, cached, reasoning).',
      usage.flatMap((u) => (['prompt', 'completion', 'cached', 'reasoning'] as const).map((type) => `supergate_tokens_total{${u.labels},type="${type}"} ${u[type]}`)))
    family('supergate_spend_micro_usd_total', 'counter', 'What calls cost, in micro-USD, by tenant, provider, model and endpoint.',
      usage.map((u) => `supergate_spend_micro_usd_total{${u.labels}} ${u.spend}`))
    family('supergate_cache_lookups_total', 'counter', 'Response-cache lookups by outcome (exact_hit, semantic_hit, miss); calls that bypass the cache are not counted.',
      usage.flatMap((u) => [...u.cacheLookups].map(([outcome, n]) => `supergate_cache_lookups_total{${u.labels},outcome="${outcome}"} ${n}`)))
    family('supergate_cache_savings_micro_usd_total', 'counter', 'What cache hits saved: the cost of the calls they answered, in micro-USD.',
      usage.filter((u) => u.saved > 0).map((u) => `supergate_cache_savings_micro_usd_total{${u.labels}} ${u.saved}`))
    family('supergate_request_duration_seconds', 'histogram', 'Time from a call reaching the gateway to its last byte (streams: the end of the stream).', histogramLines('supergate_request_duration_seconds', this.#durations, DURATION_BUCKETS))
    family('supergate_time_to_first_token_seconds', 'histogram', 'Streams: time until the first chunk reached the client.', histogramLines('supergate_time_to_first_token_seconds', this.#ttft, TTFT_BUCKETS))
    family('supergate_rejections_total', 'counter', 'Calls refused before any provider, by tenant, reason (auth, rate_limit, budget, validation) and status.',
      [...this.#rejections.values()].map((r) => `supergate_rejections_total{${r.labels}} ${r.n}`))
    family('supergate_upstream_errors_total', 'counter', 'Failed attempts at a provider (each retry and fallback counts), by provider and kind (timeout, connection, overloaded, 429, 4xx, 5xx).',
      [...this.#upstreamErrors.values()].map((r) => `supergate_upstream_errors_total{${r.labels}} ${r.n}`))
    return `${out.join('\n')}\n`
  }

  /**
   * The provider and model labels of a call: as routed for a call a provider served or the cache answered, as
   * resolved from the name asked for when it failed first (`none`/`unresolved` when that names no provider). A
   * model outside the catalogue gets a label while there is room (MAX_UNLISTED_MODELS), then `other`: no client
   * adds series by typing model names.
   */
  #route(entry: UsageRecord): { provider: string; model: string } {
    const hit = entry.cache !== undefined && entry.cache.outcome !== 'miss'
    const qualified = entry.provider !== undefined || hit ? entry.model : this.#qualify(entry.model)
    if (qualified === undefined) return { provider: 'none', model: 'unresolved' }
    const provider = entry.provider ?? qualified.slice(0, qualified.indexOf('/'))
    if (this.#catalogue.has(qualified) || this.#unlisted.has(qualified)) return { provider, model: qualified }
    if (this.#unlisted.size >= MAX_UNLISTED_MODELS) return { provider, model: 'other' }
    this.#unlisted.add(qualified)
    return { provider, model: qualified }
  }

  #usageSeries(entry: UsageRecord, provider: string, model: string): Usage {
    // Past the cap, key ids are left out with the tenant's.
    const keyOf = (tenant: string) => (this.#keyLabels && tenant !== OTHER_TENANTS ? entry.keyId : undefined)
    const suffixFor = (tenant: string) => `\u001f${keyOf(tenant) ?? ''}\u001f${provider}\u001f${model}\u001f${entry.endpoint}`
    return this.#series(this.#usage, entry.tenantId, suffixFor, (tenant) => ({
      labels: labelText({ tenant, ...(keyOf(tenant) === undefined ? {} : { key: keyOf(tenant)! }), provider, model, endpoint: entry.endpoint }),
      statuses: new Map(),
      prompt: 0,
      completion: 0,
      cached: 0,
      reasoning: 0,
      spend: 0,
      cacheLookups: new Map(),
      saved: 0,
    }))
  }

  /**
   * The tenant's series for `suffix` (the other labels). A new one while the family holds fewer than
   * `maxSeries`; past that, new label sets go to the `_other` tenant's series and existing ones keep counting.
   */
  #series<T>(family: Map<string, T>, tenantId: string, suffixFor: (tenant: string) => string, create: (tenant: string) => T): T {
    const own = family.get(tenantId + suffixFor(tenantId))
    if (own !== undefined) return own
    const tenant = family.size < this.#maxSeries ? tenantId : OTHER_TENANTS
    const key = tenant + suffixFor(tenant)
    let series = family.get(key)
    if (series === undefined) {
      series = create(tenant)
      family.set(key, series)
    }
    return series
  }
}

function observe(family: Map<string, Histogram>, key: string, buckets: readonly number[], labels: () => string, value: number): void {
  let series = family.get(key)
  if (series === undefined) {
    series = { labels: labels(), counts: new Array<number>(buckets.length).fill(0), sum: 0, count: 0 }
    family.set(key, series)
  }
  // Counts per bucket, not cumulative: added up when written out.
  const i = buckets.findIndex((bound) => value <= bound)
  if (i >= 0) series.counts[i]!++
  series.sum += value
  series.count++
}

function histogramLines(name: string, family: Map<string, Histogram>, buckets: readonly number[]): string[] {
  return [...family.values()].flatMap((h) => {
    let cumulative = 0
    const lines = buckets.map((bound, i) => {
      cumulative += h.counts[i]!
      return `${name}_bucket{${h.labels},le="${bound}"} ${cumulative}`
    })
    return [...lines, `${name}_bucket{${h.labels},le="+Inf"} ${h.count}`, `${name}_sum{${h.labels}} ${h.sum}`, `${name}_count{${h.labels}} ${h.count}`]
  })
}

/** A failed attempt as a bounded label: how the transport failed, or the provider's answer by class. */
function failureKind(failure: UpstreamFailure): string {
  if (failure.transport !== undefined) return failure.transport
  if (failure.error.overloaded === true) return 'overloaded'
  const status = failure.error.upstreamStatus
  if (status === 429) return '429'
  if (status === 0) return 'stream_error'
  return status >= 500 ? '5xx' : '4xx'
}
