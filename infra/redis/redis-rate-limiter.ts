import { readFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import type { AdmitRequest, AdmitResult, SettleRequest } from '../../gateway/limits/admission.ts'
import { admitResult, SETTLED_MARKER_MS, validateAdmit, validateSettle } from '../../gateway/limits/admission-rules.ts'
import type { Denial, DenialReason } from '../../gateway/limits/admission-rules.ts'
import { bucketState, validateBuckets } from '../../gateway/limits/rate-limiter.ts'
import type { BucketSpec, RateLimiter, TakeResult } from '../../gateway/limits/rate-limiter.ts'

const lua = (name: string) => readFileSync(new URL(name, import.meta.url), 'utf8')
const TOKEN_BUCKET_LUA = lua('./token-bucket.lua')
const ADMISSION_LUA = lua('./admission.lua')
const SETTLE_LUA = lua('./settle.lua')

type TokenBucketReply = [number, number, ...string[]]
/** See admission.lua: outcome, retry (-1: none), denied position, bucket levels, spent and reserved per budget, seed flags. */
type AdmissionReply = [number, number, number, string[], number[], number[]]

interface RedisWithBuckets extends Redis {
  takeTokens(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<TokenBucketReply>
  admitCall(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<AdmissionReply>
  settleCall(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<number>
}

/** The admission.lua outcome codes, by position. */
const OUTCOMES: readonly (DenialReason | null)[] = [null, 'needs_seed', 'rate_limit', 'concurrency', 'budget']

/**
 * A budget's three keys: its counter (spent, reserved), its reservations (id → micro-USD) and their leases
 * (id scored by expiry). Passed as KEYS, so the key prefix applies to each.
 */
export const budgetKeys = (key: string) => [key, `${key}:reservations`, `${key}:leases`]
/** Marks an admission id as settled, so a repeated settle changes nothing. */
export const settledKey = (id: string) => `settled:${id}`

export interface RedisRateLimiterOptions {
  url: string
  /** Prefix of every bucket key, so several deployments can share one Redis. */
  keyPrefix?: string
  /** A command slower than this fails instead of holding a request. */
  commandTimeoutMs?: number
}

/**
 * Token buckets and admission in Redis: one Lua script (EVALSHA; ioredis reloads it after a Redis restart) per
 * decision or settlement, so limits hold across any number of gateway processes. While Redis is unreachable, calls fail at once
 * instead of queueing: the caller decides whether to fail open or closed.
 */
export class RedisRateLimiter implements RateLimiter {
  readonly adapter = 'redis' as const
  readonly #redis: RedisWithBuckets

  constructor(options: RedisRateLimiterOptions) {
    const redis = new Redis(options.url, {
      keyPrefix: options.keyPrefix ?? 'sg:rl:',
      enableOfflineQueue: false,
      // Calls admitted or settled in the same turn of the event loop share one write to Redis.
      enableAutoPipelining: true,
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeoutMs ?? 1_000,
      connectTimeout: 2_000,
      retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    })
    // Connection errors surface through failed commands; an unhandled 'error' event would crash the process.
    redis.on('error', () => {})
    redis.defineCommand('takeTokens', { lua: TOKEN_BUCKET_LUA })
    redis.defineCommand('admitCall', { lua: ADMISSION_LUA })
    redis.defineCommand('settleCall', { lua: SETTLE_LUA })
    this.#redis = redis as RedisWithBuckets
  }

  async take(specs: readonly BucketSpec[]): Promise<TakeResult> {
    validateBuckets(specs)
    if (specs.length === 0) return { allowed: true, retryAfterMs: 0, buckets: [] }
    const args: (string | number)[] = specs.map((s) => s.key)
    for (const s of specs) args.push(s.capacity, s.refillPerSecond, s.cost)
    const [allowed, retry, ...levels] = await this.#redis.takeTokens(specs.length, ...args)
    return {
      allowed: allowed === 1,
      retryAfterMs: retry === -1 ? null : retry,
      buckets: specs.map((spec, i) => bucketState(spec, Number(levels[i]))),
    }
  }

  async admit(request: AdmitRequest): Promise<AdmitResult> {
    validateAdmit(request)
    const { buckets, concurrency, budgets } = request
    const keys = [...buckets.map((b) => b.key), ...concurrency.map((c) => c.key), ...budgets.flatMap((b) => budgetKeys(b.key))]
    if (keys.length === 0) return admitResult(request, null, [], [])
    const args: (string | number)[] = [request.id, request.leaseMs, buckets.length, concurrency.length, budgets.length]
    for (const b of buckets) args.push(b.capacity, b.refillPerSecond, b.cost)
    for (const c of concurrency) args.push(c.limit)
    for (const b of budgets) args.push(b.limitMicroUsd, b.reserveMicroUsd, b.seedMicroUsd ?? '', b.ttlSeconds)
    const [outcome, retry, denied, levels, states, seedFlags] = await this.#redis.admitCall(keys.length, ...keys, ...args)
    const reason = OUTCOMES[outcome] ?? null
    let denial: Denial | null = null
    if (reason !== null) {
      const group = reason === 'rate_limit' ? buckets : reason === 'concurrency' ? concurrency : budgets
      denial = {
        reason,
        deniedKey: reason === 'needs_seed' ? null : group[denied - 1]!.key,
        retryAfterMs: retry === -1 ? null : retry,
        needsSeed: budgets.filter((_, i) => seedFlags[i] === 1).map((b) => b.key),
      }
    }
    const budgetLevels = budgets.map((_, i) => ({ spentMicroUsd: states[2 * i]!, reservedMicroUsd: states[2 * i + 1]! }))
    return admitResult(request, denial, levels.map(Number), budgetLevels)
  }

  async settle(request: SettleRequest): Promise<void> {
    validateSettle(request)
    const { buckets, concurrencyKeys, budgets } = request
    if (buckets.length + concurrencyKeys.length + budgets.length === 0) return
    const keys = [settledKey(request.id), ...buckets.map((b) => b.spec.key), ...concurrencyKeys, ...budgets.flatMap((b) => budgetKeys(b.key))]
    const args: (string | number)[] = [request.id, SETTLED_MARKER_MS, buckets.length, concurrencyKeys.length, budgets.length]
    for (const { spec, delta } of buckets) args.push(spec.capacity, spec.refillPerSecond, delta)
    for (const b of budgets) args.push(b.actualMicroUsd, b.ttlSeconds)
    await this.#redis.settleCall(keys.length, ...keys, ...args)
  }

  async check(): Promise<void> {
    if (this.#redis.status !== 'ready') {
      await new Promise<void>((resolve, reject) => {
        const onReady = () => {
          clearTimeout(timer)
          resolve()
        }
        const timer = setTimeout(() => {
          this.#redis.off('ready', onReady)
          reject(new Error('Redis is not reachable'))
        }, 2_000)
        this.#redis.once('ready', onReady)
      })
    }
    await this.#redis.ping()
  }

  async close(): Promise<void> {
    await this.#redis.quit().catch(() => this.#redis.disconnect())
  }
}
