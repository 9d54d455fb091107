import { describe, expect, it } from 'vitest'
import type { UsageRecord } from '../../gateway/proxy/usage.ts'
import { UpstreamFailure } from '../../gateway/upstream/client.ts'
import { MAX_UNLISTED_MODELS, OTHER_TENANTS, RequestMetrics } from './request-metrics.ts'

function call(over: Partial<UsageRecord> = {}): UsageRecord {
  return {
    requestId: 'r1',
    tenantId: 'ten_a',
    keyId: 'key_1',
    projectId: null,
    user: null,
    keySource: 'gateway',
    httpStatus: 200,
    endpoint: 'chat.completions',
    model: 'openai/gpt-4o-mini',
    provider: 'openai',
    stream: false,
    outcome: 'completed',
    usage: { promptTokens: 19, completionTokens: 10, cachedTokens: 4, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false },
    attempts: 1,
    latencyMs: 30,
    ...over,
  }
}

/** The value of the sample line that starts with `series` (name and labels, as written). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

const A = 'tenant="ten_a",provider="openai",model="openai/gpt-4o-mini",endpoint="chat.completions"'

describe('request metrics', () => {
  it('counts calls by status, adds up tokens and spend, and keeps key ids out of the labels', () => {
    const m = new RequestMetrics()
    m.metered(call(), 9)
    m.metered(call({ keyId: 'key_2' }), 9)
    m.metered(call({ httpStatus: 502, outcome: 'failed', usage: undefined, errorCode: 'upstream_error' }), 0)
    const text = m.text()
    expect(sample(text, `supergate_requests_total{${A},status="200"}`)).toBe(2)
    expect(sample(text, `supergate_requests_total{${A},status="502"}`)).toBe(1)
    expect(sample(text, `supergate_tokens_total{${A},type="prompt"}`)).toBe(38)
    expect(sample(text, `supergate_tokens_total{${A},type="cached"}`)).toBe(8)
    expect(sample(text, `supergate_spend_micro_usd_total{${A}}`)).toBe(18)
    expect(text).not.toContain('key_1')
  })

  it('labels by key id only when asked to', () => {
    const m = new RequestMetrics({ keyLabels: true })
    m.metered(call(), 9)
    expect(sample(m.text(), 'supergate_spend_micro_usd_total{tenant="ten_a",key="key_1",provider="openai",model="openai/gpt-4o-mini",endpoint="chat.completions"}')).toBe(9)
  })

  it('writes cumulative histogram buckets for latency and time to first token', () => {
    const m = new RequestMetrics()
    m.metered(call({ latencyMs: 3 }), 0)
    m.metered(call({ latencyMs: 700, stream: true, timeToFirstTokenMs: 80 }), 0)
    const text = m.text()
    const route = 'provider="openai",model="openai/gpt-4o-mini",endpoint="chat.completions"'
    expect(sample(text, `supergate_request_duration_seconds_bucket{${route},le="0.005"}`)).toBe(1)
    expect(sample(text, `supergate_request_duration_seconds_bucket{${route},le="0.5"}`)).toBe(1)
    expect(sample(text, `supergate_request_duration_seconds_bucket{${route},le="1"}`)).toBe(2)
    expect(sample(text, `supergate_request_duration_seconds_bucket{${route},le="+Inf"}`)).toBe(2)
    expect(sample(text, `supergate_request_duration_seconds_sum{${route}}`)).toBeCloseTo(0.703)
    expect(sample(text, `supergate_time_to_first_token_seconds_count{${route}}`)).toBe(1)
    expect(sample(text, `supergate_time_to_first_token_seconds_bucket{${route},le="0.05"}`)).toBe(0)
    expect(sample(text, `supergate_time_to_first_token_seconds_bucket{${route},le="0.1"}`)).toBe(1)
  })

  it('counts cache lookups and savings, rejections and upstream failures', () => {
    const m = new RequestMetrics()
    m.metered(call({ cache: { outcome: 'miss' } }), 9)
    m.metered(call({ cache: { outcome: 'exact_hit', savedMicroUsd: 9 } }), 0)
    m.rejected(call({ httpStatus: 429, outcome: 'failed', provider: undefined }), 'rate_limit')
    const failure = (upstreamStatus: number, transport?: 'timeout' | 'connection') => new UpstreamFailure({ upstreamStatus, providerCode: null, message: 'upstream', param: null }, transport)
    m.upstreamFailure('openai', failure(500))
    m.upstreamFailure('openai', failure(503))
    m.upstreamFailure('openai', failure(0, 'timeout'))
    m.upstreamFailure('anthropic', failure(429))
    const text = m.text()
    expect(sample(text, `supergate_cache_lookups_total{${A},outcome="exact_hit"}`)).toBe(1)
    expect(sample(text, `supergate_cache_lookups_total{${A},outcome="miss"}`)).toBe(1)
    expect(sample(text, `supergate_cache_savings_micro_usd_total{${A}}`)).toBe(9)
    expect(sample(text, 'supergate_rejections_total{tenant="ten_a",reason="rate_limit",status="429"}')).toBe(1)
    expect(sample(text, 'supergate_upstream_errors_total{provider="openai",kind="5xx"}')).toBe(2)
    expect(sample(text, 'supergate_upstream_errors_total{provider="openai",kind="timeout"}')).toBe(1)
    expect(sample(text, 'supergate_upstream_errors_total{provider="anthropic",kind="429"}')).toBe(1)
  })

  it('labels a failed call with the model its name resolves to, and one naming no provider as unresolved', () => {
    const qualify = (requested: string) => (requested === 'gpt-4o-mini' || requested === 'fast' ? 'openai/gpt-4o-mini' : undefined)
    const m = new RequestMetrics({ catalogue: new Set(['openai/gpt-4o-mini']), qualify })
    const failed = { provider: undefined, httpStatus: 502, outcome: 'failed' as const, usage: undefined }
    m.metered(call({ ...failed, model: 'gpt-4o-mini' }), 0)
    m.metered(call({ ...failed, model: 'fast' }), 0)
    m.metered(call({ ...failed, model: 'no-such-provider-model', httpStatus: 404 }), 0)
    m.metered(call({ provider: undefined, cache: { outcome: 'exact_hit', savedMicroUsd: 9 } }), 0)
    const text = m.text()
    expect(text).toContain(`supergate_requests_total{${A},status="502"} 2`)
    expect(text).toContain(`supergate_requests_total{${A},status="200"} 1`)
    expect(text).toContain('supergate_requests_total{tenant="ten_a",provider="none",model="unresolved",endpoint="chat.completions",status="404"} 1')
  })

  it('gives models outside the catalogue labels while there is room, then counts them as other', () => {
    const m = new RequestMetrics({ catalogue: new Set(['openai/gpt-4o-mini']) })
    for (let i = 0; i <= MAX_UNLISTED_MODELS; i++) m.metered(call({ model: `openai/ft:made-up-${i}` }), 1)
    m.metered(call(), 1)
    const text = m.text()
    expect(text).toContain('model="openai/ft:made-up-0"')
    expect(text).not.toContain(`model="openai/ft:made-up-${MAX_UNLISTED_MODELS}"`)
    expect(text).toContain('supergate_spend_micro_usd_total{tenant="ten_a",provider="openai",model="other",endpoint="chat.completions"} 1')
    expect(text).toContain(`supergate_spend_micro_usd_total{${A}} 1`)
    // The histograms are bounded by the same labels.
    expect(text.split('\n').filter((l) => l.startsWith('supergate_request_duration_seconds_count{')).length).toBe(MAX_UNLISTED_MODELS + 2)
  })

  it('bounds each family: past the cap new tenants count as _other, and tenants already seen keep their series', () => {
    const m = new RequestMetrics({ maxSeries: 2 })
    m.metered(call({ tenantId: 't1' }), 1)
    m.metered(call({ tenantId: 't2' }), 1)
    m.metered(call({ tenantId: 't3' }), 1)
    m.metered(call({ tenantId: 't4' }), 1)
    m.metered(call({ tenantId: 't1' }), 1)
    const spend = (tenant: string) => sample(m.text(), `supergate_spend_micro_usd_total{tenant="${tenant}",provider="openai",model="openai/gpt-4o-mini",endpoint="chat.completions"}`)
    expect([spend('t1'), spend('t2'), spend('t3'), spend(OTHER_TENANTS)]).toEqual([2, 1, undefined, 2])
  })

  it('escapes label values as the text format requires', () => {
    const m = new RequestMetrics()
    m.metered(call({ tenantId: 'a"b\\c' }), 1)
    expect(m.text()).toContain('tenant="a\\"b\\\\c"')
  })
})
