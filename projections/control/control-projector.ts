import type { StoredEvent } from '../../events/event-store.ts'
import type { SqlExecutor, SqlStore } from '../../infra/postgres/sql-store.ts'

interface EventRow {
  global_position: number
  stream_id: string
  stream_version: number
  event_id: string
  type: string
  data: Record<string, unknown>
  metadata: Record<string, unknown>
  recorded_at: Date
}

type Data = Record<string, unknown>
const json = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value))

/** One event's effect on the read models. Unknown types are ignored: other projections own them. */
async function apply(tx: SqlExecutor, event: StoredEvent): Promise<void> {
  const d = event.data as Data
  const at = (event.metadata.occurredAt as string | undefined) ?? event.recordedAt.toISOString()
  switch (event.type) {
    case 'tenant.created':
      await tx.query('INSERT INTO tenants (id, name, key_mode, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING', [d.tenantId, d.name, d.keyMode, at])
      return
    case 'tenant.renamed':
      await tx.query('UPDATE tenants SET name = $2 WHERE id = $1', [d.tenantId, d.name])
      return
    case 'tenant.key_mode_changed':
      await tx.query('UPDATE tenants SET key_mode = $2 WHERE id = $1', [d.tenantId, d.keyMode])
      return
    case 'project.created':
      await tx.query('INSERT INTO projects (id, tenant_id, name, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING', [d.projectId, d.tenantId, d.name, at])
      return
    case 'project.archived':
      await tx.query('UPDATE projects SET archived = true WHERE id = $1', [d.projectId])
      return
    case 'member.added':
      await tx.query(
        'INSERT INTO members (tenant_id, id, email, role) VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, id) DO UPDATE SET email = $3, role = $4',
        [d.tenantId, d.memberId, d.email, d.role],
      )
      return
    case 'member.role_changed':
      await tx.query('UPDATE members SET role = $3 WHERE tenant_id = $1 AND id = $2', [d.tenantId, d.memberId, d.role])
      return
    case 'member.removed':
      await tx.query('DELETE FROM members WHERE tenant_id = $1 AND id = $2', [d.tenantId, d.memberId])
      return
    case 'apikey.issued': {
      const scope = d.scope as Data
      await tx.query(
        `INSERT INTO api_keys (id, tenant_id, public_id, name, role, project_id, allowed_models, fallback_models, limits, expires_at, secret_hash, created_at, updated_position)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING`,
        [d.keyId, d.tenantId, d.publicId, d.name, d.role, scope.projectId, json(scope.allowedModels), json(scope.fallbackModels), json(scope.limits), scope.expiresAt, d.secretHash, at, event.globalPosition],
      )
      return
    }
    case 'apikey.rotated':
      await tx.query(
        `UPDATE api_keys SET previous_hash = secret_hash, previous_valid_until = $3, secret_hash = $2, updated_position = $4 WHERE id = $1`,
        [d.keyId, d.secretHash, d.previousValidUntil, event.globalPosition],
      )
      return
    case 'apikey.revoked':
      await tx.query('UPDATE api_keys SET revoked_at = $2, updated_position = $3 WHERE id = $1', [d.keyId, at, event.globalPosition])
      return
    case 'credential.set':
      await tx.query(
        `INSERT INTO provider_credentials (tenant_id, provider, credential_id, sealed, masked, base_url, updated_at, updated_position)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tenant_id, provider) DO UPDATE SET credential_id = $3, sealed = $4, masked = $5, base_url = $6, updated_at = $7, updated_position = $8`,
        [d.tenantId, d.provider, d.credentialId, json(d.sealed), d.masked, d.baseUrl, at, event.globalPosition],
      )
      return
    case 'credential.rewrapped':
      await tx.query('UPDATE provider_credentials SET sealed = $3, updated_position = $4 WHERE tenant_id = $1 AND provider = $2', [d.tenantId, d.provider, json(d.sealed), event.globalPosition])
      return
    case 'credential.deleted':
      await tx.query('DELETE FROM provider_credentials WHERE tenant_id = $1 AND provider = $2', [d.tenantId, d.provider])
      return
    case 'budget.set':
      await tx.query(
        `INSERT INTO budgets (tenant_id, scope, period, limit_micro_usd) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, scope, period) DO UPDATE SET limit_micro_usd = $4`,
        [d.tenantId, d.scope, d.period, d.limitMicroUsd],
      )
      return
    case 'budget.removed':
      await tx.query('DELETE FROM budgets WHERE tenant_id = $1 AND scope = $2 AND period = $3', [d.tenantId, d.scope, d.period])
      return
    case 'rate_limit.set': {
      const limits = d.limits as Data
      await tx.query(
        `INSERT INTO rate_limits (tenant_id, scope, requests_per_minute, tokens_per_minute, concurrent_requests) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id, scope) DO UPDATE SET requests_per_minute = $3, tokens_per_minute = $4, concurrent_requests = $5`,
        [d.tenantId, d.scope, limits.requestsPerMinute, limits.tokensPerMinute, limits.concurrentRequests],
      )
      return
    }
    case 'rate_limit.removed':
      await tx.query('DELETE FROM rate_limits WHERE tenant_id = $1 AND scope = $2', [d.tenantId, d.scope])
      return
    case 'limits_policy.set':
      await tx.query(
        `INSERT INTO limit_policies (tenant_id, on_limiter_unavailable) VALUES ($1, $2)
         ON CONFLICT (tenant_id) DO UPDATE SET on_limiter_unavailable = $2`,
        [d.tenantId, d.onLimiterUnavailable],
      )
      return
    case 'cache_settings.set':
      await tx.query(
        'INSERT INTO cache_settings (tenant_id, settings) VALUES ($1, $2) ON CONFLICT (tenant_id) DO UPDATE SET settings = $2',
        [d.tenantId, json(d.settings)],
      )
      return
    case 'credits.granted':
      await tx.query('INSERT INTO credit_grants (id, tenant_id, amount_micro_usd, reason, granted_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING', [d.grantId, d.tenantId, d.amountMicroUsd, d.reason, at])
      return
    case 'alert_rule.created':
      await tx.query('INSERT INTO alert_rules (id, tenant_id, rule, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING', [d.ruleId, d.tenantId, json(d.rule), at])
      return
    case 'alert_rule.deleted':
      await tx.query('DELETE FROM alert_rules WHERE id = $1', [d.ruleId])
      return
    case 'price_override.set':
      await tx.query(
        'INSERT INTO price_overrides (tenant_id, model, price) VALUES ($1, $2, $3) ON CONFLICT (tenant_id, model) DO UPDATE SET price = $3',
        [d.tenantId, d.model, json(d.price)],
      )
      return
    case 'price_override.removed':
      await tx.query('DELETE FROM price_overrides WHERE tenant_id = $1 AND model = $2', [d.tenantId, d.model])
      return
    default:
      return
  }
}

export interface ControlProjectorOptions {
  name?: string
  batchSize?: number
  pollIntervalMs?: number
  /** Other projections to run in the same transaction (the audit trail). */
  alsoApply?: (tx: SqlExecutor, events: readonly StoredEvent[]) => Promise<void>
  onError?: (error: unknown) => void
}

/**
 * Builds the control read models from the event store, in global order. Each batch, its effects and the
 * new position commit in one transaction, under a lock on the projection's position row: any number of
 * gateway processes may run it, each event is applied exactly once, and a crash mid-batch rolls it all back.
 */
export class ControlProjector {
  readonly #sql: SqlStore
  readonly #options: Required<Omit<ControlProjectorOptions, 'alsoApply' | 'onError'>> & Pick<ControlProjectorOptions, 'alsoApply' | 'onError'>
  #timer: NodeJS.Timeout | undefined
  #running: Promise<number> | undefined

  constructor(sql: SqlStore, options: ControlProjectorOptions = {}) {
    this.#sql = sql
    this.#options = { name: options.name ?? 'control-read-models', batchSize: options.batchSize ?? 500, pollIntervalMs: options.pollIntervalMs ?? 200, alsoApply: options.alsoApply, onError: options.onError }
  }

  /** Applies one batch; resolves the position reached. */
  runOnce(): Promise<number> {
    // One pass at a time in this process; other processes serialise on the row lock.
    this.#running ??= this.#pass().finally(() => (this.#running = undefined))
    return this.#running
  }

  async #pass(): Promise<number> {
    return this.#sql.transaction(async (tx) => {
      await tx.query('INSERT INTO projection_positions (name, position) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING', [this.#options.name])
      const locked = await tx.query<{ position: number }>('SELECT position FROM projection_positions WHERE name = $1 FOR UPDATE', [this.#options.name])
      const from = locked.rows[0]!.position
      const rows = await tx.query<EventRow>(
        `SELECT global_position, stream_id, stream_version, event_id, type, data, metadata, recorded_at
         FROM event_store_events WHERE global_position > $1 ORDER BY global_position LIMIT $2`,
        [from, this.#options.batchSize],
      )
      if (rows.rows.length === 0) return from
      const events: StoredEvent[] = rows.rows.map((r) => ({
        id: r.event_id,
        type: r.type,
        data: r.data,
        metadata: r.metadata,
        streamId: r.stream_id,
        streamVersion: r.stream_version,
        globalPosition: r.global_position,
        recordedAt: r.recorded_at,
      }))
      for (const event of events) await apply(tx, event)
      await this.#options.alsoApply?.(tx, events)
      const to = events.at(-1)!.globalPosition
      // If the process dies before COMMIT, none of this batch counts and the next pass applies it again.
      await tx.query('UPDATE projection_positions SET position = $2 WHERE name = $1', [this.#options.name, to])
      return to
    })
  }

  /** Read-your-writes: resolves once the read models include `position`. */
  async catchUp(position: number): Promise<void> {
    for (let reached = -1; reached < position; ) {
      const before = reached
      reached = await this.runOnce()
      if (reached === before && reached < position) await new Promise((r) => setTimeout(r, 5))
    }
  }

  start(): void {
    const tick = () => {
      this.runOnce()
        .then((position) => position)
        .catch((error: unknown) => this.#options.onError?.(error))
        .finally(() => {
          if (this.#timer !== undefined) this.#timer = setTimeout(tick, this.#options.pollIntervalMs)
        })
    }
    this.#timer = setTimeout(tick, 0)
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#running?.catch(() => undefined)
  }
}
