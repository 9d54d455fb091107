import { afterAll, describe, expect, it } from 'vitest'
import { LocalEmbedder } from './local-embedder.ts'
import { WorkerEmbedder } from './worker-embedder.ts'

describe('the local embedder on a worker thread', () => {
  const worker = new WorkerEmbedder()
  afterAll(() => worker.close())

  it('gives the vectors the in-process embedder gives, and keeps the event loop free meanwhile', async () => {
    const texts = ['What is the capital of France?', 'Tell me the capital city of France']
    let ticks = 0
    const timer = setInterval(() => ticks++, 1)
    const [a, b] = await worker.embed(texts)
    clearInterval(timer)
    const local = await new LocalEmbedder().embed(texts)
    expect(a).toHaveLength(384)
    for (const [i, v] of [a!, b!].entries()) for (const [j, x] of v.entries()) expect(x).toBeCloseTo(local[i]![j]!, 6)
    // The model load and two runs take well over 100 ms; the timer kept firing through them.
    expect(ticks).toBeGreaterThan(20)
    expect(await worker.embed([])).toEqual([])
  })
})
