import { inject } from 'vitest'

/**
 * The settings of a gateway process on this test run's real services (PostgreSQL, Redis, Kafka) with the OpenAI
 * mock as its provider; `extra` adds to them or overrides them. Each test names its own admin token, master
 * key and upstream key, so that the log scan knows what must not appear in the process's output.
 */
export function servicesGatewayEnv(options: { admin: string; masterKeyByte: number; mockUrl: string; upstreamKey: string; dataDir?: string }, extra: Record<string, string> = {}): Record<string, string> {
  const services = inject('services')
  return {
    SUPERGATE_DATABASE_URL: services.databaseUrl,
    SUPERGATE_REDIS_URL: services.redisUrl,
    SUPERGATE_KAFKA_BROKERS: services.kafkaBrokers.join(','),
    ...(options.dataDir === undefined ? {} : { SUPERGATE_DATA_DIR: options.dataDir }),
    SUPERGATE_ADMIN_TOKEN: options.admin,
    SUPERGATE_MASTER_KEY: Buffer.alloc(32, options.masterKeyByte).toString('base64'),
    SUPERGATE_OPENAI_API_KEY: options.upstreamKey,
    SUPERGATE_OPENAI_BASE_URL: `${options.mockUrl}/v1`,
    ...extra,
  }
}
