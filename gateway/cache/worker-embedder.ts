import { Worker } from 'node:worker_threads'
import type { Embedder } from './embedder.ts'

interface Pending {
  resolve(vectors: number[][]): void
  reject(error: Error): void
}

/**
 * The local embedder (./local-embedder.ts) on a worker thread, so that a 15–200 ms model run never holds the
 * gateway's event loop: other requests go on while a prompt is embedded. The worker starts on the first
 * embed and does not keep the process alive.
 */
export class WorkerEmbedder implements Embedder {
  readonly id = 'local/all-minilm-l6-v2-q'
  readonly dimensions = 384
  readonly #pending = new Map<number, Pending>()
  #worker: Worker | undefined
  #next = 0

  embed(texts: readonly string[]): Promise<number[][]> {
    if (texts.length === 0) return Promise.resolve([])
    const worker = this.#start()
    const id = this.#next++
    return new Promise<number[][]>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      worker.postMessage({ id, texts: [...texts] })
    })
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker
    const worker = new Worker(new URL('./embedder-worker.ts', import.meta.url))
    worker.unref()
    worker.on('message', (message: { id: number; vectors?: number[][]; error?: string }) => {
      const pending = this.#pending.get(message.id)
      this.#pending.delete(message.id)
      if (message.error !== undefined) pending?.reject(new Error(message.error))
      else pending?.resolve(message.vectors ?? [])
    })
    const fail = (error: Error) => {
      // A worker that died takes its requests with it; the next embed starts a new one.
      this.#worker = undefined
      for (const pending of this.#pending.values()) pending.reject(error)
      this.#pending.clear()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`embedder worker exited with code ${code}`)))
    this.#worker = worker
    return worker
  }

  async close(): Promise<void> {
    const worker = this.#worker
    this.#worker = undefined
    await worker?.terminate()
  }
}
