/**
 * Numbers for people. Money arrives as integer micro-USD (1 USD = 1,000,000) and is summed and formatted
 * with BigInt, so no float ever touches an amount; Chart.js alone gets dollars as floats, to draw bars.
 */

const MICRO = 1_000_000n
const CENT = 10_000n
const counts = new Intl.NumberFormat('en-US')

/** Whole dollars with thousands separators, from a non-negative BigInt. */
const groupDigits = (value) => value.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',')

/**
 * '$12.34' from 12_340_000, rounded to the nearest cent (halves away from zero); amounts under a cent keep their micro-dollars
 * ('$0.000009'), so a small spend never shows as '$0.00'.
 */
export function formatUsd(microUsd) {
  const micro = toBigInt(microUsd)
  const sign = micro < 0n ? '-' : ''
  const abs = micro < 0n ? -micro : micro
  if (abs > 0n && abs < CENT) {
    const fraction = abs.toString().padStart(6, '0').replace(/0+$/, '')
    return `${sign}$0.${fraction}`
  }
  const cents = (abs + CENT / 2n) / CENT
  return `${sign}$${groupDigits(cents / 100n)}.${(cents % 100n).toString().padStart(2, '0')}`
}

/** A count with thousands separators. */
export const formatCount = (n) => counts.format(n)

/** The exact sum of integer micro-USD amounts, as a Number (the API's amounts are safe integers). */
export function sumMicro(amounts) {
  let total = 0n
  for (const amount of amounts) total += toBigInt(amount)
  return Number(total)
}

/** A whole percent, rounded down (a budget is not 100% used before it is), of part in whole, with integer arithmetic; 0 when whole is not positive. */
export function percentOf(part, whole) {
  const w = toBigInt(whole)
  return w > 0n ? Number((toBigInt(part) * 100n) / w) : 0
}

/** A share in whole percent, rounded to the nearest (halves up), with integer arithmetic; 0 when whole is not positive. */
export function sharePercent(part, whole) {
  const w = toBigInt(whole)
  return w > 0n ? Number((toBigInt(part) * 200n + w) / (2n * w)) : 0
}

/** Dollars as a float, for drawing only (axis positions and bar heights), never for a figure shown as text. */
export const usdForDrawing = (microUsd) => Number(microUsd) / Number(MICRO)

function toBigInt(value) {
  if (!Number.isSafeInteger(value)) throw new TypeError(`expected whole micro-USD, got ${String(value)}`)
  return BigInt(value)
}

const DAY_MS = 86_400_000
const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10)

/**
 * The report range for a picker choice, in whole UTC days: `from` inclusive, `to` exclusive (tomorrow, so
 * today counts in full), and every day in between, for a time axis without gaps.
 * '7d' and '30d' end today; 'month' is this calendar month so far.
 */
export function rangeFor(choice, now = new Date()) {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())
  const start = choice === 'month' ? Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1) : today - ((choice === '7d' ? 7 : 30) - 1) * DAY_MS
  const days = []
  for (let day = start; day <= today; day += DAY_MS) days.push(isoDay(day))
  return { from: isoDay(start), to: isoDay(today + DAY_MS), days }
}

/** '3 Oct' from '2026-10-03', for axis labels. */
export function shortDay(day) {
  return new Date(`${day}T00:00:00Z`).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' })
}

/** '3 Oct, 14:05 UTC' from an ISO time. */
export function shortTime(iso) {
  const d = new Date(iso)
  const date = d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' })
  return `${date}, ${d.toISOString().slice(11, 16)} UTC`
}
