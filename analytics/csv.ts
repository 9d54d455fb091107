import { FIELD, MEASURES } from './chargeback.ts'
import type { ChargebackReport } from './chargeback.ts'

/** snake_case column names, as spreadsheets and warehouse loaders expect them. */
const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)

/** Exact decimal USD from integer micro-USD, with string arithmetic only: 1234567 → "1.234567". */
export function microUsdToUsd(micro: number): string {
  const digits = String(micro).padStart(7, '0')
  return `${digits.slice(0, -6)}.${digits.slice(-6)}`
}

/**
 * RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. A field that a spreadsheet
 * would run as a formula (=, +, -, @ first: a user id chosen by a client) gets a leading apostrophe.
 */
export function csvField(value: string | number | null): string {
  if (value === null) return ''
  let text = String(value)
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

/** The report as CSV: one line per row, money in integer micro-USD and as exact decimal USD. */
export function chargebackCsv(report: ChargebackReport, names: Readonly<Record<string, ReadonlyMap<string, string>>> = {}): string {
  const dims = report.groupBy.map((g) => FIELD[g])
  const nameColumns = dims.filter((d) => names[d] !== undefined)
  const header = [
    ...dims.flatMap((d) => (nameColumns.includes(d) ? [snake(d), snake(d).replace(/_id$/, '_name')] : [snake(d)])),
    ...MEASURES.map(snake),
    'cost_usd',
    'cache_savings_usd',
  ]
  const lines = [header.join(',')]
  for (const row of report.rows) {
    const cells: (string | number | null)[] = []
    for (const d of dims) {
      const value = row[d] ?? null
      cells.push(value)
      if (nameColumns.includes(d)) cells.push(value === null ? null : (names[d]!.get(String(value)) ?? null))
    }
    for (const m of MEASURES) cells.push(row[m])
    cells.push(microUsdToUsd(row.costMicroUsd), microUsdToUsd(row.cacheSavingsMicroUsd))
    lines.push(cells.map(csvField).join(','))
  }
  return `${lines.join('\r\n')}\r\n`
}
