import type { SqlExecutor } from '../../infra/postgres/sql-store.ts'
import type { SeedRequest } from './limits.ts'

/**
 * What the spend projections hold for counters the limiter does not know yet (a new period, or Redis lost
 * them): a budget's spend in its period from spend_by_period, a balance's spend from tenant_balances. Read
 * once per counter, not per call. The projections trail the gateway by a few hundred milliseconds; calls
 * settled in that window are the only spend a fresh counter can miss.
 */
export async function readSpendSeeds(sql: SqlExecutor, requests: readonly SeedRequest[]): Promise<Map<string, number>> {
  const seeds = new Map<string, number>()
  for (const request of requests) {
    if (request.kind.type === 'balance') {
      const row = await sql.query<{ spent_micro_usd: number }>('SELECT spent_micro_usd FROM tenant_balances WHERE tenant_id = $1', [request.tenantId])
      seeds.set(request.key, Number(row.rows[0]?.spent_micro_usd ?? 0))
      continue
    }
    const row = await sql.query<{ spent_micro_usd: number }>(
      'SELECT spent_micro_usd FROM spend_by_period WHERE tenant_id = $1 AND scope = $2 AND period = $3 AND period_start = $4::date',
      [request.tenantId, request.kind.scope, request.kind.period, request.kind.periodStart],
    )
    seeds.set(request.key, Number(row.rows[0]?.spent_micro_usd ?? 0))
  }
  return seeds
}
