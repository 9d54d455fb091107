import type { AnalyticsStore } from './analytics-store.ts'
import type { UsageRow } from './usage-rows.ts'

/** A server takes query parameters in its URL (1 MiB by default, often less behind a proxy): 2,000 ids are about 75 kB. */
const IDS_PER_QUERY = 2_000

/**
 * The ids among `rows` that ClickHouse holds already: marked as dedupe keys, or (for a crash between an
 * insert and its marking) present in the fact table, looked up by its primary key (tenant, time, id).
 */
export async function alreadyWritten(store: AnalyticsStore, rows: readonly UsageRow[]): Promise<Set<string>> {
  const found = new Set<string>()
  for (let i = 0; i < rows.length; i += IDS_PER_QUERY) {
    for (const id of await writtenAmong(store, rows.slice(i, i + IDS_PER_QUERY))) found.add(id)
  }
  return found
}

async function writtenAmong(store: AnalyticsStore, rows: readonly UsageRow[]): Promise<string[]> {
  const ids = rows.map((r) => r.event_id)
  const tenants = [...new Set(rows.map((r) => r.tenant_id))]
  let from = rows[0]!.occurred_at
  let to = from
  for (const r of rows) {
    if (r.occurred_at < from) from = r.occurred_at
    if (r.occurred_at > to) to = r.occurred_at
  }
  const found = await store.query<{ event_id: string }>(
    `SELECT event_id FROM usage_event_ids WHERE event_id IN {ids:Array(String)}
     UNION DISTINCT
     SELECT event_id FROM usage_events
     WHERE tenant_id IN {tenants:Array(String)} AND occurred_at BETWEEN {from:DateTime64(3, 'UTC')} AND {to:DateTime64(3, 'UTC')}
       AND event_id IN {ids:Array(String)}`,
    { ids, tenants, from, to },
  )
  return found.map((r) => r.event_id)
}

/** Marks the ids as written: a later copy of one of these events is then found by id alone. */
export async function markWritten(store: AnalyticsStore, rows: readonly UsageRow[]): Promise<void> {
  await store.insert('usage_event_ids', rows.map((r) => ({ event_id: r.event_id })))
}
