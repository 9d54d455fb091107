/**
 * The local embedder's cost, after warm-up: ms per single prompt (p50 and p95 of 100), ms per call of 16
 * prompts (p50 of 20), 256-token texts (the most it reads), and the process's resident memory.
 *
 *   node test/bench/embedder.ts
 */
import { LocalEmbedder } from '../../gateway/cache/local-embedder.ts'

const PROMPTS = [
  'What is the capital of France?',
  'How do I reverse a list in Python?',
  'Summarize this article about climate change in three bullet points',
  'Write a SQL query that counts users by country and sorts by the count',
  'Explain the difference between a process and a thread to a junior developer',
  "Translate 'good morning, how are you today?' into Spanish",
  'Fix the syntax error in this JavaScript code: function f( { return 1 }',
  'Draft a polite email declining a meeting invitation for next Tuesday afternoon',
]
const megabytes = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`
const percentile = (samples: number[], p: number) => [...samples].sort((a, b) => a - b)[Math.min(samples.length - 1, Math.floor(samples.length * p))]!

async function timedMs(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now()
  await work()
  return performance.now() - started
}

const rssBefore = process.memoryUsage().rss
const embedder = new LocalEmbedder()
const loadMs = await timedMs(() => embedder.embed(['warm up']))
for (let i = 0; i < 20; i++) await embedder.embed([PROMPTS[i % PROMPTS.length]!])

const single: number[] = []
for (let i = 0; i < 100; i++) single.push(await timedMs(() => embedder.embed([PROMPTS[i % PROMPTS.length]!])))
const batchOf16 = [...PROMPTS, ...PROMPTS]
const batch: number[] = []
for (let i = 0; i < 20; i++) batch.push(await timedMs(() => embedder.embed(batchOf16)))
const longText = 'the quick brown fox jumps over the lazy dog '.repeat(100)
const long: number[] = []
for (let i = 0; i < 10; i++) long.push(await timedMs(() => embedder.embed([longText])))
const memory = process.memoryUsage()

console.log(`node ${process.version}, ${embedder.id}`)
console.log(`first call (loads the model): ${loadMs.toFixed(0)} ms`)
console.log(`single prompt: p50 ${percentile(single, 0.5).toFixed(2)} ms, p95 ${percentile(single, 0.95).toFixed(2)} ms (n=100)`)
console.log(`16 prompts in one call: p50 ${percentile(batch, 0.5).toFixed(1)} ms (n=20)`)
console.log(`256-token text: p50 ${percentile(long, 0.5).toFixed(1)} ms (n=10)`)
console.log(`RSS ${megabytes(memory.rss)} (${megabytes(memory.rss - rssBefore)} more than before loading)`)
