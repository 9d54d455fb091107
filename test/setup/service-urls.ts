/** Where the real services of the test run listen; provided by test/setup/services.ts. */
export interface ServiceUrls {
  databaseUrl: string
  redisUrl: string
  kafkaBrokers: string[]
  /** Set only where a ClickHouse server runs (testcontainers, or given); chdb needs none. */
  clickhouseUrl?: string
}

declare module 'vitest' {
  export interface ProvidedContext {
    services: ServiceUrls
  }
}
