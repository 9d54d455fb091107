import type { Config } from '../infra/config/config.ts'

/**
 * What a process of a deployment runs (`supergate <role>`). `all` is everything in one process: the embedded
 * mode and small deployments. The others split it: stateless `gateway`s behind a load balancer, one
 * `projections` worker, and `sink`s that write usage to ClickHouse.
 */
export const ROLES = ['all', 'gateway', 'projections', 'sink'] as const
export type Role = (typeof ROLES)[number]

export interface RoleParts {
  /** The public and admin APIs; without them the process serves /health, /ready and /metrics only. */
  api: boolean
  /** The spend projections, the alert relay and webhooks. */
  projections: boolean
  /** The analytics sink (usage events to ClickHouse). */
  sink: boolean
  /** The outbox relay (control events to the log): one per deployment, never in a scaled-out gateway. */
  relay: boolean
  /**
   * Whether the process opens the analytics store. chdb (no SUPERGATE_CLICKHOUSE_URL) can be opened by one
   * process only: of a split deployment, the sink's. A gateway then answers reports with a 503 saying so.
   */
  analytics: boolean
}

export class UnknownRoleError extends Error {
  constructor(given: string) {
    super(`Unknown role '${given}': expected one of ${ROLES.join(', ')} (usage: supergate [${ROLES.join('|')}])`)
    this.name = 'UnknownRoleError'
  }
}

export function parseRole(args: readonly string[]): Role {
  const given = args[0] ?? 'all'
  if (!(ROLES as readonly string[]).includes(given)) throw new UnknownRoleError(given)
  return given as Role
}

export function roleParts(role: Role, config: Pick<Config, 'projections' | 'outboxRelay' | 'clickhouseUrl'>): RoleParts {
  const server = config.clickhouseUrl !== undefined
  switch (role) {
    case 'all':
      // SUPERGATE_PROJECTIONS=off leaves the projections and the sink to another process, as before roles.
      return { api: true, projections: config.projections, sink: config.projections, relay: config.outboxRelay, analytics: true }
    case 'gateway':
      return { api: true, projections: false, sink: false, relay: false, analytics: server }
    case 'projections':
      return { api: false, projections: true, sink: false, relay: config.outboxRelay, analytics: false }
    case 'sink':
      return { api: false, projections: false, sink: true, relay: false, analytics: true }
  }
}

/**
 * What a split role needs that the embedded adapters cannot give: PGlite belongs to one process, so a gateway,
 * worker or sink of a deployment must share a PostgreSQL server (refused otherwise); limits kept in memory are
 * per process, so gateways without Redis each grant a tenant its whole limit (a warning).
 */
export function roleProblems(role: Role, config: Pick<Config, 'databaseUrl' | 'redisUrl'>): { errors: string[]; warnings: string[] } {
  if (role === 'all') return { errors: [], warnings: [] }
  const errors =
    config.databaseUrl === undefined
      ? [`The ${role} role is one process of a deployment and needs the deployment's PostgreSQL: set SUPERGATE_DATABASE_URL (or run \`supergate all\` on its own)`]
      : []
  const warnings =
    role === 'gateway' && config.redisUrl === undefined
      ? ['SUPERGATE_REDIS_URL is unset: rate limits, concurrency and budget reservations are kept in this process only, so each gateway of the deployment grants them in full']
      : []
  return { errors, warnings }
}
