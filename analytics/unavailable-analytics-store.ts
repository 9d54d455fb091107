import type { AnalyticsStore } from './analytics-store.ts'

/** The process has no analytics store (see `UnavailableAnalyticsStore`): answered with a 503 that says why. */
export class AnalyticsUnavailableError extends Error {
  constructor(reason: string) {
    super(reason)
    this.name = 'AnalyticsUnavailableError'
  }
}

/**
 * Stands in for ClickHouse in a process that must not open it: a gateway or projections worker of a split
 * deployment on embedded chdb, which belongs to the sink's process. Every read and write fails with the
 * reason; nothing is checked, so the process is ready without it.
 */
export class UnavailableAnalyticsStore implements AnalyticsStore {
  readonly adapter = 'none' as const
  readonly #reason: string

  constructor(reason: string) {
    this.#reason = reason
  }

  command(): Promise<void> {
    return Promise.reject(new AnalyticsUnavailableError(this.#reason))
  }

  insert(): Promise<void> {
    return Promise.reject(new AnalyticsUnavailableError(this.#reason))
  }

  query<Row>(): Promise<Row[]> {
    return Promise.reject(new AnalyticsUnavailableError(this.#reason))
  }

  check(): Promise<void> {
    return Promise.resolve()
  }

  close(): Promise<void> {
    return Promise.resolve()
  }
}
