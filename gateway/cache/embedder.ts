/**
 * Turns prompts into vectors for the response cache's semantic tier. Implementations: `LocalEmbedder`
 * (in process, offline) and provider embedding models reached through a tenant's keys.
 */
export interface Embedder {
  /** Names the model and its configuration: part of the semantic cache key, so vectors of different embedders never meet. */
  readonly id: string
  readonly dimensions: number
  /** One vector per text, in order, each of length `dimensions` and unit length, so a dot product is the cosine similarity. */
  embed(texts: readonly string[]): Promise<number[][]>
}
