import { z } from 'zod'
import { ROLES } from '../control/roles.ts'

/**
 * Building blocks of the admin API's schemas. Every object is strict: an unknown field is refused by
 * name rather than ignored, so a typo (`limitMicroUSD`) never silently does nothing.
 */

export const id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected an id such as ten_… (1 to 64 letters, digits, _ or -)')
export const name = z.string().trim().min(1).max(200)
export const role = z.enum(ROLES)
export const timestamp = z.iso.datetime({ offset: true })
/** Money: whole micro-USD (1 USD = 1,000,000), never a float. */
export const microUsd = z.number().int().min(0)
export const positiveMicroUsd = z.number().int().min(1)
export const httpUrl = z.url({ protocol: /^https?$/ }).max(2000)
export const period = z.enum(['day', 'month'])

export const tenantParams = z.strictObject({ tenantId: id })

/** Lists answer `{ data: [...] }`, as OpenAI's lists do. */
export function listOf<T extends z.ZodType>(item: T) {
  return z.strictObject({ data: z.array(item) })
}

/** A Date or a timestamp string from either SQL adapter, as ISO 8601; null stays null. */
export function isoOrNull(value: Date | string | null | undefined): string | null {
  if (value === null || value === undefined) return null
  return (value instanceof Date ? value : new Date(value)).toISOString()
}

export function iso(value: Date | string): string {
  return isoOrNull(value)!
}
