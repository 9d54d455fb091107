import type { CacheHitV1, CacheHitV2, RequestCompletedV0, RequestCompletedV1, RequestCompletedV2, RequestRejectedV1, RequestRejectedV2 } from './schemas.ts'

/**
 * Exact decimal USD string → integer micro-USD, with string and BigInt arithmetic only: a float would turn
 * "0.000123" into 122.99999… micro-USD. Digits past the sixth decimal are rounded half up, once.
 */
export function usdDecimalToMicroUsd(usd: string): number {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(usd)
  if (match === null) throw new RangeError(`"${usd}" is not a non-negative decimal USD amount`)
  const whole = match[1]!
  const fraction = match[2] ?? ''
  const micro = BigInt(whole) * 1_000_000n + BigInt(fraction.slice(0, 6).padEnd(6, '0'))
  const roundUp = fraction.length > 6 && fraction[6]! >= '5'
  const result = roundUp ? micro + 1n : micro
  if (result > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`$${usd} is beyond what a micro-USD figure can hold exactly`)
  return Number(result)
}

/** v0 → v1: token counts move into `usage` (the breakdown v0 never had is zero), the cost becomes micro-USD. */
export function requestCompletedV0ToV1(v0: RequestCompletedV0): RequestCompletedV1 {
  const { promptTokens, completionTokens, costUsd, ...rest } = v0
  return {
    ...rest,
    usage: { promptTokens, completionTokens, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: false },
    costMicroUsd: usdDecimalToMicroUsd(costUsd),
  }
}

/** v1 → v2 of the three request events: v1 named no end user. */
export function withNoUser<T extends RequestCompletedV1 | CacheHitV1 | RequestRejectedV1>(
  v1: T,
): T extends RequestCompletedV1 ? RequestCompletedV2 : T extends CacheHitV1 ? CacheHitV2 : RequestRejectedV2 {
  return { ...v1, user: null } as never
}
