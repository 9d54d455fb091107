import { readFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import { bucketState, validateBuckets } from '../../gateway/limits/rate-limiter.ts'
import type { BucketSpec, RateLimiter, TakeResult } from '../../gateway/limits/rate-limiter.ts'

const TOKEN_BUCKET_LUA = readFileSync(new URL('./token-bucket.lua', import.meta.url), 'utf8')

type TokenBucketReply = [number, number, ...string[]]

interface RedisWithBuckets extends Redis {
  takeTokens(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<TokenBucketReply>
}

export interface RedisRateLimiterOptions {
  url: string
  /** Prefix of every bucket key, so several deployments can share one Redis. */
  keyPrefix?: string
  /** A command slower than this fails instead of holding a request. */
  commandTimeoutMs?: number
}

/**
 * Token buckets in Redis: one Lua script (EVALSHA; ioredis reloads it after a Redis restart) per decision,
 * so limits hold across any number of gateway processes. While Redis is unreachable, calls fail at once
 * instead of queueing: the caller decides whether to fail open or closed.
 */
export class RedisRateLimiter implements RateLimiter {
  readonly adapter = 'redis' as const
  readonly #redis: RedisWithBuckets

  constructor(options: RedisRateLimiterOptions) {
    const redis = new Redis(options.url, {
      keyPrefix: options.keyPrefix ?? 'sg:rl:',
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeoutMs ?? 1_000,
      connectTimeout: 2_000,
      retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    })
    // Connection errors surface through failed commands; an unhandled 'error' event would crash the process.
    redis.on('error', () => {})
    redis.defineCommand('takeTokens', { lua: TOKEN_BUCKET_LUA })
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
