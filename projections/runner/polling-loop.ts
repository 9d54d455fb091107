/**
 * Runs `work` again `intervalMs` after each run ends, until stopped; a run that throws is reported and the
 * loop goes on. For the background relays that poll a table (webhook deliveries, alert events).
 */
export class PollingLoop {
  readonly #work: () => Promise<unknown>
  readonly #intervalMs: number
  readonly #onError: ((error: unknown) => void) | undefined
  #timer: NodeJS.Timeout | undefined
  #running: Promise<unknown> | undefined
  #stopped = true

  constructor(work: () => Promise<unknown>, intervalMs: number, onError?: (error: unknown) => void) {
    this.#work = work
    this.#intervalMs = intervalMs
    this.#onError = onError
  }

  start(): void {
    if (!this.#stopped) return
    this.#stopped = false
    const tick = async () => {
      if (this.#stopped) return
      try {
        this.#running = this.#work()
        await this.#running
      } catch (error) {
        this.#onError?.(error)
      } finally {
        this.#running = undefined
        if (!this.#stopped) this.#timer = setTimeout(() => void tick(), this.#intervalMs)
      }
    }
    void tick()
  }

  /** Stops polling and waits for the run in flight. */
  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    await this.#running?.catch(() => undefined)
  }
}
