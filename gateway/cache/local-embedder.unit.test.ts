import { InferenceSession } from 'onnxruntime-web'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { EMBEDDING_DIMENSIONS } from './cache-store.ts'
import { LocalEmbedder } from './local-embedder.ts'

/**
 * Chosen from the pairs below, not the other way round: with 0.80, four near-misses would pass as
 * paraphrases (another language 0.842, 5 vs 50 km 0.840, times vs plus 0.837, summarize vs write 0.817),
 * while the least similar paraphrase scores 0.867. The gap is narrow; the float model's is narrower.
 */
const THRESHOLD = 0.85

const PARAPHRASES: [string, string][] = [
  ['What is the capital of France?', 'Tell me the capital city of France'],
  ['How do I reverse a list in Python?', "What's the way to reverse a Python list?"],
  ['Summarize this article about climate change', 'Give me a summary of this climate change article'],
  ['Convert 5 km to miles', 'How many miles is 5 km?'],
  ["Translate 'good morning' into Spanish", "How do you say 'good morning' in Spanish?"],
  ['Write a haiku about autumn leaves', 'Compose a haiku about leaves in autumn'],
  ['Explain recursion to a beginner', 'Can you explain recursion for beginners?'],
  ['What are the health benefits of green tea?', 'How is green tea good for your health?'],
  ['Fix the syntax error in this JavaScript code', 'Please correct the syntax error in this JS code'],
  ['How do I center a div in CSS?', 'What is the way to center a div with CSS?'],
  ['List the planets in our solar system', 'Name all the planets in the solar system'],
  ['Write a SQL query that counts users by country', 'Give me an SQL query to count the users per country'],
]

const DIFFERENT: [string, string][] = [
  ['What is the capital of France?', 'What is the capital of Germany?'],
  ['How do I reverse a list in Python?', 'How do I sort a list in Python?'],
  ['Convert 5 km to miles', 'Convert 50 km to miles'],
  ['Write a poem about the sea', 'Explain quantum entanglement'],
  ["Translate 'good morning' into Spanish", "Translate 'good morning' into French"],
  ['Write a Python function to check if a number is prime', 'Write a Python function to compute the factorial of a number'],
  ['What is the boiling point of water?', 'What is the freezing point of water?'],
  ['Summarize this article about climate change', 'Write an article about climate change'],
  ['How do I read a file in Python?', 'How do I write to a file in Python?'],
  ['How do I center a div in CSS?', 'How do I center a div in Flutter?'],
  ['What is 17 times 23?', 'What is 17 plus 23?'],
  ['Write a haiku about autumn leaves', 'Write a haiku about spring flowers'],
  ['Explain recursion to a beginner', 'What is the weather in Paris today?'],
]

const dot = (a: readonly number[], b: readonly number[]) => a.reduce((sum, x, i) => sum + x * b[i]!, 0)
const maxAbsDifference = (a: readonly number[], b: readonly number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i]!)))

/** Words of one word piece each: n of them make n + 2 tokens with [CLS] and [SEP]. */
const words = (n: number) => Array.from({ length: n }, (_, i) => ['the', 'cat', 'sat', 'on', 'a', 'mat', 'and', 'dog', 'ran', 'home'][i % 10]).join(' ')

describe('LocalEmbedder', () => {
  const embedder = new LocalEmbedder()
  const fetchSpy = vi.fn(() => {
    throw new Error('the local embedder must not use the network')
  })
  const similarity = async (a: string, b: string) => {
    const [va, vb] = await embedder.embed([a, b])
    return dot(va!, vb!)
  }

  beforeAll(() => {
    vi.stubGlobal('fetch', fetchSpy)
  })
  afterAll(() => {
    vi.unstubAllGlobals()
  })

  // First, so that it sees the runtime's one-time initialisation as well as the model's load.
  it('loads once under concurrent first calls, fetching nothing', { timeout: 30_000 }, async () => {
    const create = vi.spyOn(InferenceSession, 'create')
    try {
      const results = await Promise.all([embedder.embed(['one']), embedder.embed(['two']), embedder.embed(['one'])])
      expect(create).toHaveBeenCalledTimes(1)
      expect(results[0]).toEqual(results[2])
      expect(fetchSpy).not.toHaveBeenCalled()
    } finally {
      create.mockRestore()
    }
  })

  it('gives unit vectors of 384 plain numbers, the cache store dimension', async () => {
    expect(embedder.dimensions).toBe(EMBEDDING_DIMENSIONS)
    const vectors = await embedder.embed(PARAPHRASES.flat())
    expect(vectors).toHaveLength(PARAPHRASES.length * 2)
    for (const vector of vectors) {
      expect(Array.isArray(vector)).toBe(true)
      expect(vector).toHaveLength(384)
      expect(Math.abs(Math.sqrt(dot(vector, vector)) - 1)).toBeLessThan(1e-6)
    }
  })

  it.each(PARAPHRASES)(`scores a paraphrase at least ${THRESHOLD}: %s | %s`, async (a, b) => {
    expect(await similarity(a, b)).toBeGreaterThanOrEqual(THRESHOLD)
  })

  it.each(DIFFERENT)(`scores a different request below ${THRESHOLD}: %s | %s`, async (a, b) => {
    expect(await similarity(a, b)).toBeLessThan(THRESHOLD)
  })

  it('is deterministic, across calls and instances', { timeout: 30_000 }, async () => {
    const text = 'Draft a polite email declining a meeting invitation'
    const [first] = await embedder.embed([text])
    expect(await embedder.embed([text])).toEqual([first])
    expect(await new LocalEmbedder().embed([text])).toEqual([first])
  })

  it('gives a text the same vector in a batch as alone', async () => {
    const texts = [...DIFFERENT.flat().slice(0, 15), 'hi']
    const batch = await embedder.embed(texts)
    for (const [i, text] of texts.entries()) {
      const [alone] = await embedder.embed([text])
      expect(maxAbsDifference(batch[i]!, alone!)).toBeLessThanOrEqual(1e-5)
    }
  })

  it('embeds nothing for no texts, and the empty string like blank text', async () => {
    expect(await embedder.embed([])).toEqual([])
    const [empty, blank] = await embedder.embed(['', ' \n\t '])
    expect(empty).toHaveLength(384)
    expect(empty!.every(Number.isFinite)).toBe(true)
    expect(Math.abs(Math.sqrt(dot(empty!, empty!)) - 1)).toBeLessThan(1e-6)
    expect(blank).toEqual(empty)
  })

  it('reads only the first 256 tokens, however long the text', async () => {
    const [at254, at253, long, longer] = await embedder.embed([words(254), words(253), words(2_000), `${words(2_000)} ${'x'.repeat(100_000)}`])
    expect(long).toEqual(at254)
    expect(longer).toEqual(at254)
    expect(at253).not.toEqual(at254)
  })

  it('finds the first tokens of a long text that starts with blank space', async () => {
    const [padded, plain] = await embedder.embed([`${' '.repeat(10_000)}hello world`, 'hello world'])
    expect(padded).toEqual(plain)
  })
})
