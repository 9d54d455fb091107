import { describe, expect, it } from 'vitest'
import { openai } from '../providers/openai/index.ts'
import type { UpstreamError } from '../providers/types.ts'
import { UpstreamFailure } from '../upstream/client.ts'
import { CircuitBreakers } from './circuit-breaker.ts'
import { backoffMs, dispatch } from './dispatch.ts'
import type { Target } from './dispatch.ts'

const target = (model: string, key = 'k1'): Target => ({
  resolved: { provider: openai, model, qualified: `openai/${model}` },
  credential: { apiKey: key, baseUrl: 'http://x' },
  breakerKey: `openai:${key}`,
})
const failure = (upstreamStatus: number, extra: Partial<UpstreamError> = {}) =>
  new UpstreamFailure({ upstreamStatus, providerCode: null, message: `HTTP ${upstreamStatus}`, param: null, ...extra })

function recorder() {
  const sleeps: number[] = []
  return { sleeps, sleep: (ms: number) => (sleeps.push(ms), Promise.resolve()), random: () => 0.5 }
}

describe('dispatch', () => {
  it('retries retryable failures with backoff, honouring retry-after', async () => {
    const r = recorder()
    const outcomes = [failure(503), failure(429, { retryAfterMs: 1_500 })]
    const result = await dispatch([target('a')], { breakers: new CircuitBreakers(), retries: 2, ...r }, () => {
      const next = outcomes.shift()
      return next === undefined ? Promise.resolve('ok') : Promise.reject(next)
    })
    expect(result).toMatchObject({ result: 'ok', attempts: 3 })
    expect(r.sleeps).toEqual([125, 1_500])
  })

  it('does not retry a client error, and does not fall back on it', async () => {
    const calls: string[] = []
    const attempt = (t: Target) => (calls.push(t.resolved.model), Promise.reject(failure(400)))
    await expect(dispatch([target('a'), target('b')], { breakers: new CircuitBreakers(), retries: 3, ...recorder() }, attempt)).rejects.toMatchObject({
      code: 'upstream_bad_request',
    })
    expect(calls).toEqual(['a'])
  })

  it('falls back to the next model once retries are spent', async () => {
    const calls: string[] = []
    const result = await dispatch([target('a'), target('b', 'k2')], { breakers: new CircuitBreakers(), retries: 1, ...recorder() }, (t) => {
      calls.push(t.resolved.model)
      return t.resolved.model === 'a' ? Promise.reject(failure(500)) : Promise.resolve('from b')
    })
    expect(calls).toEqual(['a', 'a', 'b'])
    expect(result.target.resolved.model).toBe('b')
  })

  it('moves on at once when a provider asks to wait longer than the cap', async () => {
    const r = recorder()
    await expect(
      dispatch([target('a')], { breakers: new CircuitBreakers(), retries: 3, maxRetryAfterMs: 10_000, ...r }, () => Promise.reject(failure(429, { retryAfterMs: 60_000 }))),
    ).rejects.toMatchObject({ code: 'upstream_rate_limited', retryAfterMs: 60_000 })
    expect(r.sleeps).toEqual([])
  })

  it('opens the breaker after repeated upstream failures, then answers provider_unavailable without calling', async () => {
    let now = 0
    const breakers = new CircuitBreakers({ threshold: 3, cooldownMs: 10_000, now: () => now })
    let calls = 0
    const failing = () => (calls++, Promise.reject(failure(502)))
    await expect(dispatch([target('a')], { breakers, retries: 2, ...recorder() }, failing)).rejects.toMatchObject({ code: 'upstream_error' })
    expect(breakers.state('openai:k1')).toBe('open')
    await expect(dispatch([target('a')], { breakers, retries: 2, ...recorder() }, failing)).rejects.toMatchObject({
      code: 'provider_unavailable',
      retryAfterMs: 10_000,
    })
    expect(calls).toBe(3)
    // After the cooldown one trial call goes through; its success closes the breaker.
    now += 10_000
    expect(breakers.state('openai:k1')).toBe('half-open')
    await dispatch([target('a')], { breakers, retries: 0, ...recorder() }, () => Promise.resolve('ok'))
    expect(breakers.state('openai:k1')).toBe('closed')
  })

  it('counts neither rate limits nor client errors against the breaker', async () => {
    const breakers = new CircuitBreakers({ threshold: 2 })
    for (let i = 0; i < 5; i++) {
      await dispatch([target('a')], { breakers, retries: 0, ...recorder() }, () => Promise.reject(failure(429))).catch(() => undefined)
      await dispatch([target('a')], { breakers, retries: 0, ...recorder() }, () => Promise.reject(failure(400))).catch(() => undefined)
    }
    expect(breakers.state('openai:k1')).toBe('closed')
  })

  it('uses full jitter below an exponential ceiling', () => {
    const options = { breakers: new CircuitBreakers(), retries: 5, random: () => 0.999 }
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, undefined, options))).toEqual([250, 500, 999, 1998, 3996, 7992, 7992])
  })
})
