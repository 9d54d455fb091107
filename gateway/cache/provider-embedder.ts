import { randomUUID } from 'node:crypto'
import type { Principal } from '../auth/api-keys.ts'
import { createEmbeddings } from '../proxy/proxy.ts'
import type { ProxyDeps } from '../proxy/proxy.ts'
import { completedRecord } from '../proxy/usage.ts'
import type { UsageMeter } from '../proxy/usage.ts'
import { EMBEDDING_DIMENSIONS } from './cache-store.ts'
import type { Embedder } from './embedder.ts'

/**
 * Prompt embeddings from a provider's embedding model, called as the tenant: through its routing and its own
 * provider key when it has one (a tenant's prompts never reach a key it did not choose), and metered as an
 * embeddings call, so the tenant is billed for it. Asks for 384 dimensions (OpenAI text-embedding-3-*, Gemini
 * gemini-embedding-001 and others that take `dimensions`) and refuses vectors of another size.
 */
export class ProviderEmbedder implements Embedder {
  readonly id: string
  readonly dimensions = EMBEDDING_DIMENSIONS
  readonly #proxy: ProxyDeps
  readonly #principal: Principal
  readonly #model: string
  readonly #meter: UsageMeter

  constructor(proxy: ProxyDeps, principal: Principal, model: string, meter: UsageMeter) {
    this.id = `provider/${model}`
    this.#proxy = proxy
    this.#principal = principal
    this.#model = model
    this.#meter = meter
  }

  async embed(texts: readonly string[]): Promise<number[][]> {
    const started = performance.now()
    const requestId = `cache-embed-${randomUUID()}`
    const outcome = await createEmbeddings(
      this.#proxy,
      { model: this.#model, input: [...texts], dimensions: EMBEDDING_DIMENSIONS, encoding_format: 'float' },
      { requestId, principal: this.#principal, signal: AbortSignal.timeout(10_000), fallbackModels: [] },
    )
    const p = this.#principal
    this.#meter.record(completedRecord({ requestId, tenantId: p.tenantId, keyId: p.keyId, projectId: p.projectId ?? null, user: null, endpoint: 'embeddings', model: this.#model, stream: false }, outcome, started))
    return outcome.response.data.map((d) => {
      if (typeof d.embedding === 'string' || d.embedding.length !== EMBEDDING_DIMENSIONS) {
        throw new Error(`${this.#model} returned an embedding of ${typeof d.embedding === 'string' ? 'base64' : d.embedding.length} dimensions; the cache needs ${EMBEDDING_DIMENSIONS}`)
      }
      const norm = Math.hypot(...d.embedding)
      return norm === 0 ? d.embedding : d.embedding.map((x) => x / norm)
    })
  }
}
