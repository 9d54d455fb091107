import { describe, expect, it } from 'vitest'
import { backoffMs, signWebhook, verifyWebhook, webhookSecret } from './webhooks.ts'

describe('webhook signatures', () => {
  const secret = 'whsec_test'
  const body = JSON.stringify({ type: 'alert.triggered', spentMicroUsd: 5_000_000 })
  const t = 1_764_000_000

  it('signs "<t>.<body>" with HMAC-SHA256 and verifies it', () => {
    const header = signWebhook(secret, t, body)
    expect(header).toMatch(/^t=1764000000,v1=[0-9a-f]{64}$/)
    expect(verifyWebhook(secret, header, body, t + 10)).toBe(true)
  })

  it('rejects a tampered body, a wrong secret, a stale or future timestamp and a malformed header', () => {
    const header = signWebhook(secret, t, body)
    expect(verifyWebhook(secret, header, body.replace('5000000', '5000001'), t)).toBe(false)
    expect(verifyWebhook('whsec_other', header, body, t)).toBe(false)
    expect(verifyWebhook(secret, header, body, t + 301)).toBe(false)
    expect(verifyWebhook(secret, header, body, t - 301)).toBe(false)
    expect(verifyWebhook(secret, header, body, t + 60, 30)).toBe(false)
    // A replay with a fresh timestamp but the old signature does not verify.
    expect(verifyWebhook(secret, header.replace(`t=${t}`, `t=${t + 400}`), body, t + 400)).toBe(false)
    expect(verifyWebhook(secret, 'v1=abc', body, t)).toBe(false)
    expect(verifyWebhook(secret, '', body, t)).toBe(false)
  })

  it('derives a distinct, stable secret per tenant and master key', () => {
    const key = Buffer.alloc(32, 7)
    expect(webhookSecret(key, 'ten_a')).toBe(webhookSecret(key, 'ten_a'))
    expect(webhookSecret(key, 'ten_a')).not.toBe(webhookSecret(key, 'ten_b'))
    expect(webhookSecret(Buffer.alloc(32, 8), 'ten_a')).not.toBe(webhookSecret(key, 'ten_a'))
    expect(webhookSecret(key, 'ten_a')).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it('backs off 1 s, 2 s, 4 s … up to 5 minutes', () => {
    expect([1, 2, 3, 4].map(backoffMs)).toEqual([1000, 2000, 4000, 8000])
    expect(backoffMs(20)).toBe(300_000)
  })
})
