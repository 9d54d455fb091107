import { join } from 'node:path'
import type { Logger } from 'pino'
import type { AnalyticsStore } from '../analytics/analytics-store.ts'
import { UnavailableAnalyticsStore } from '../analytics/unavailable-analytics-store.ts'
import type { EventLog } from '../events/event-log.ts'
import type { EventStore } from '../events/event-store.ts'
import { InProcessEventLog } from '../events/in-process-event-log.ts'
import { SqlEventStore } from '../events/sql-event-store.ts'
import { ClickHouseAnalyticsStore } from '../infra/clickhouse/clickhouse-analytics-store.ts'
import type { Config } from '../infra/config/config.ts'
import { KafkaEventLog } from '../infra/kafka/kafka-event-log.ts'
import { migrate } from '../infra/postgres/migrate.ts'
import { PgSqlStore } from '../infra/postgres/pg-sql-store.ts'
import { PgliteSqlStore } from '../infra/postgres/pglite-sql-store.ts'
import type { SqlStore } from '../infra/postgres/sql-store.ts'
import { RedisRateLimiter } from '../infra/redis/redis-rate-limiter.ts'
import type { RateLimiter } from './limits/rate-limiter.ts'
import { MemoryRateLimiter } from './limits/memory-rate-limiter.ts'

/** The ports of DESIGN.md §3, each wired to its real adapter when configured and its embedded one otherwise. */
export interface Dependencies {
  sql: SqlStore
  eventStore: EventStore
  eventLog: EventLog
  rateLimiter: RateLimiter
  analytics: AnalyticsStore
}

export function embeddedPath(config: Pick<Config, 'dataDir'>, name: string): string | undefined {
  return config.dataDir === ':memory:' ? undefined : join(config.dataDir, name)
}

/**
 * Opens every dependency, migrating the SQL store first. If one fails to open, those already open are
 * closed again before the error propagates, so a failed start leaves no connection behind.
 */
export async function openDependencies(config: Config, logger: Logger, options: { analytics?: boolean } = {}): Promise<Dependencies> {
  const opened: { close(): Promise<void> }[] = []
  const track = <T extends { close(): Promise<void> }>(dep: T): T => {
    opened.push(dep)
    return dep
  }
  try {
    const sql = track(
      config.databaseUrl === undefined
        ? await PgliteSqlStore.open(embeddedPath(config, 'pglite'))
        : new PgSqlStore({ url: config.databaseUrl }),
    )
    const applied = await migrate(sql)
    if (applied.length > 0) logger.info({ migrations: applied }, 'applied SQL migrations')
    const eventStore = track(new SqlEventStore(sql))
    const eventLog = track(
      config.kafkaBrokers === undefined
        ? new InProcessEventLog(sql, {
            onError: (err, context) => logger.error({ err, ...context }, 'event log consumer failed; retrying'),
          })
        : new KafkaEventLog({ brokers: config.kafkaBrokers, logger: logger.child({ component: 'kafka' }) }),
    )
    const rateLimiter = track(
      config.redisUrl === undefined ? new MemoryRateLimiter() : new RedisRateLimiter({ url: config.redisUrl }),
    )
    const analytics =
      options.analytics === false
        ? new UnavailableAnalyticsStore(
            'Usage reports are not available in this process: set SUPERGATE_CLICKHOUSE_URL to a ClickHouse server (embedded chdb belongs to the sink process)',
          )
        : track(
            await ClickHouseAnalyticsStore.open(
              config.clickhouseUrl === undefined ? { chdbPath: embeddedPath(config, 'chdb') ?? ':memory:' } : { url: config.clickhouseUrl },
            ),
          )
    return { sql, eventStore, eventLog, rateLimiter, analytics }
  } catch (error) {
    await Promise.allSettled(opened.reverse().map((d) => d.close()))
    throw error
  }
}

/** Closes in reverse order of opening: consumers and producers before the stores they write to. */
export async function closeDependencies(deps: Dependencies): Promise<void> {
  await Promise.allSettled([deps.analytics.close(), deps.rateLimiter.close()])
  await deps.eventLog.close()
  await deps.eventStore.close()
  await deps.sql.close()
}
