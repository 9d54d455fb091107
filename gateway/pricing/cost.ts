import type { PriceOverride } from '../control/settings.ts'
import type { NormalizedUsage } from '../providers/types.ts'
import { lookupPrice, PRICE_TABLE_VERSION } from './price-table.ts'
import type { ModelPrice } from './price-table.ts'

export interface Cost {
  costMicroUsd: number
  /** The price table version, suffixed `+unpriced` when the model had no price (see below). */
  priceVersion: string
  /** False when neither the table nor the tenant's override prices the model: the cost is then 0. */
  priced: boolean
}

/**
 * Marks a cost of 0 that means "no price", not "free". It travels in the event's priceVersion (no schema
 * change), so the chargeback report and a re-pricing job can find those requests by a query.
 */
export const UNPRICED_SUFFIX = '+unpriced'

const MILLION = 1_000_000n
const BASIS_POINTS = 10_000n

/**
 * What a request costs, in integer micro-USD. All arithmetic is BigInt: tokens × micro-USD-per-million
 * passes 2^53 long before a sum of money does. The exact total (in millionths of a micro-USD, times the
 * markup in basis points) is rounded half up once, at the end.
 *
 * - Cached (cache-read) and cache-write tokens are part of promptTokens: each is billed at its own rate and
 *   the rest of the prompt at the input rate, so no token is billed twice.
 * - Reasoning tokens are part of completionTokens and are billed as output, once.
 * - A tenant override replaces each rate it sets (null keeps the table's); its markup applies on top of
 *   the overridden price. With no table price, an override with input and output rates prices the model.
 * - A model with no price costs 0 with `priced: false`; callers should log and count it (and the price
 *   version says so in the event).
 */
export function costMicroUsd(model: string, usage: NormalizedUsage, override?: PriceOverride): Cost {
  assertUsage(usage)
  const price = effectivePrice(lookupPrice(model), override, usage.promptTokens)
  if (price === undefined) return { costMicroUsd: 0, priceVersion: PRICE_TABLE_VERSION + UNPRICED_SUFFIX, priced: false }

  const cached = BigInt(usage.cachedTokens)
  const cacheWrite = BigInt(usage.cacheWriteTokens)
  const uncachedInput = BigInt(usage.promptTokens) - cached - cacheWrite
  const input = BigInt(price.inputMicroUsdPerMillion)
  const exact =
    uncachedInput * input +
    cached * BigInt(price.cachedInputMicroUsdPerMillion ?? price.inputMicroUsdPerMillion) +
    cacheWrite * BigInt(price.cacheWriteMicroUsdPerMillion ?? price.inputMicroUsdPerMillion) +
    BigInt(usage.completionTokens) * BigInt(price.outputMicroUsdPerMillion)

  const markup = BigInt(override?.markupBasisPoints ?? 0)
  const numerator = exact * (BASIS_POINTS + markup)
  const denominator = MILLION * BASIS_POINTS
  const rounded = (numerator * 2n + denominator) / (denominator * 2n)
  if (rounded > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`A cost of ${rounded} micro-USD cannot be held exactly`)
  return { costMicroUsd: Number(rounded), priceVersion: PRICE_TABLE_VERSION, priced: true }
}

type Rates = Omit<ModelPrice, 'longContext'>

function effectivePrice(table: ModelPrice | undefined, override: PriceOverride | undefined, promptTokens: number): Rates | undefined {
  const base: Rates | undefined = table?.longContext !== undefined && promptTokens > table.longContext.aboveTokens ? table.longContext.price : table
  const input = override?.inputMicroUsdPerMillion ?? base?.inputMicroUsdPerMillion
  const output = override?.outputMicroUsdPerMillion ?? base?.outputMicroUsdPerMillion
  if (input === undefined || output === undefined) return undefined
  const cachedInput = override?.cachedInputMicroUsdPerMillion ?? base?.cachedInputMicroUsdPerMillion
  return {
    inputMicroUsdPerMillion: input,
    outputMicroUsdPerMillion: output,
    ...(cachedInput === undefined ? {} : { cachedInputMicroUsdPerMillion: cachedInput }),
    // An override of the input rate also moves cache writes, which the table prices relative to input.
    ...(base?.cacheWriteMicroUsdPerMillion === undefined || override?.inputMicroUsdPerMillion != null
      ? {}
      : { cacheWriteMicroUsdPerMillion: base.cacheWriteMicroUsdPerMillion }),
  }
}

function assertUsage(usage: NormalizedUsage): void {
  for (const field of ['promptTokens', 'completionTokens', 'cachedTokens', 'cacheWriteTokens', 'reasoningTokens'] as const) {
    const value = usage[field]
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`usage.${field} must be a whole number ≥ 0, got ${value}`)
  }
  if (usage.cachedTokens + usage.cacheWriteTokens > usage.promptTokens) {
    throw new RangeError(`cached (${usage.cachedTokens}) and cache-write (${usage.cacheWriteTokens}) tokens exceed promptTokens (${usage.promptTokens})`)
  }
}
