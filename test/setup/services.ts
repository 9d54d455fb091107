import { createServer } from 'node:net'
import type { TestProject } from 'vitest/node'
import { nativeServicesEnv } from '../support/services-env.ts'
import type { ServiceUrls } from './service-urls.ts'

/**
 * Starts the real services that the contract, integration and e2e tiers need, and hands their URLs to
 * the tests (`inject('services')`). Which way, by SUPERGATE_TEST_SERVICES:
 * - `external`: use SUPERGATE_DATABASE_URL, SUPERGATE_REDIS_URL, SUPERGATE_KAFKA_BROKERS (and
 *   SUPERGATE_CLICKHOUSE_URL if set) as given;
 * - `testcontainers`: containers, which needs a Docker engine;
 * - `infra`: `infra/services.sh up`, native services on this machine;
 * - unset: testcontainers when a Docker engine answers, infra/ otherwise.
 */

function fromEnv(env: NodeJS.ProcessEnv): ServiceUrls {
  const need = (name: string): string => {
    const value = env[name]
    if (value === undefined || value === '') throw new Error(`${name} must be set for the service-backed tests`)
    return value
  }
  const clickhouseUrl = env.SUPERGATE_CLICKHOUSE_URL
  return {
    databaseUrl: need('SUPERGATE_DATABASE_URL'),
    redisUrl: need('SUPERGATE_REDIS_URL'),
    kafkaBrokers: need('SUPERGATE_KAFKA_BROKERS').split(','),
    ...(clickhouseUrl === undefined || clickhouseUrl === '' ? {} : { clickhouseUrl }),
  }
}

function startWithInfra(): ServiceUrls {
  const started = Date.now()
  const env = nativeServicesEnv([], 'inherit')
  console.error(`[services] native services from infra/ ready in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return fromEnv(env)
}

async function dockerAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers')
    await Promise.race([
      getContainerRuntimeClient(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 5_000)),
    ])
    return true
  } catch {
    return false
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

async function startWithTestcontainers(): Promise<{ urls: ServiceUrls; stop: () => Promise<void> }> {
  const { GenericContainer, Wait } = await import('testcontainers')
  const kafkaPort = await freePort()
  const [postgres, redis, kafka, clickhouse] = await Promise.all([
    new GenericContainer('pgvector/pgvector:0.8.0-pg15')
      .withEnvironment({ POSTGRES_USER: 'supergate', POSTGRES_PASSWORD: 'supergate', POSTGRES_DB: 'supergate' })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start(),
    new GenericContainer('redis:7').withExposedPorts(6379).withWaitStrategy(Wait.forLogMessage(/Ready to accept/)).start(),
    // Kafka advertises the address clients must use, so the host port is fixed before the container starts.
    new GenericContainer('apache/kafka:4.1.1')
      .withEnvironment({
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_LISTENERS: `PLAINTEXT://:${kafkaPort},CONTROLLER://:9093`,
        KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${kafkaPort}`,
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
        KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
        KAFKA_NUM_PARTITIONS: '3',
      })
      .withExposedPorts({ container: kafkaPort, host: kafkaPort })
      .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
      .start(),
    new GenericContainer('clickhouse/clickhouse-server:24.8')
      .withEnvironment({ CLICKHOUSE_USER: 'supergate', CLICKHOUSE_PASSWORD: 'supergate' })
      .withExposedPorts(8123)
      .withWaitStrategy(Wait.forHttp('/ping', 8123))
      .start(),
  ])
  await postgres.exec(['psql', '-U', 'supergate', '-d', 'supergate', '-c', 'CREATE EXTENSION IF NOT EXISTS vector'])
  return {
    urls: {
      databaseUrl: `postgres://supergate:supergate@${postgres.getHost()}:${postgres.getMappedPort(5432)}/supergate`,
      redisUrl: `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`,
      kafkaBrokers: [`127.0.0.1:${kafkaPort}`],
      clickhouseUrl: `http://supergate:supergate@${clickhouse.getHost()}:${clickhouse.getMappedPort(8123)}`,
    },
    stop: async () => {
      await Promise.all([postgres.stop(), redis.stop(), kafka.stop(), clickhouse.stop()])
    },
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const mode = process.env.SUPERGATE_TEST_SERVICES ?? 'auto'
  if (mode === 'external') {
    project.provide('services', fromEnv(process.env))
    return undefined
  }
  if (mode === 'testcontainers' || (mode === 'auto' && (await dockerAnswers()))) {
    console.error('[services] a Docker engine answers: starting the services with testcontainers')
    const { urls, stop } = await startWithTestcontainers()
    project.provide('services', urls)
    return stop
  }
  if (mode !== 'infra' && mode !== 'auto') throw new Error(`SUPERGATE_TEST_SERVICES=${mode} is not external|testcontainers|infra`)
  // Native services stay up after the run, so the next run on this machine starts warm (`npm run services down`).
  project.provide('services', startWithInfra())
  return undefined
}
