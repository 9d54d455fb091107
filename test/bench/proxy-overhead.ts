/**
 * The latency the gateway adds to a non-streamed chat completion: the same request, sent one at a time,
 * straight to the local OpenAI mock and through the gateway to it, alternating A/B so that machine noise
 * hits both sides alike. Prints median and p99 of each and of the difference.
 *
 *   npm run bench:embedded            (1,000 calls each)
 *   npm run bench:embedded -- 5000    (another count)
 */
import { request } from 'undici'
import { startMock } from '../mocks/mock-server.ts'
import { openAiMock } from '../mocks/openai.ts'
import { startGateway } from '../support/gateway-process.ts'

const calls = Number(process.argv[2] ?? 1_000)
const key = 'sg-bench-key-000000000000000'
const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] })

const mock = await startMock(openAiMock())
const gateway = await startGateway({
  SUPERGATE_API_KEYS: key,
  SUPERGATE_OPENAI_API_KEY: 'upstream-bench-key',
  SUPERGATE_OPENAI_BASE_URL: `${mock.url}/v1`,
  // Per-call log lines would measure the terminal, not the gateway.
  SUPERGATE_LOG_LEVEL: 'warn',
})

async function timed(url: string, auth: string): Promise<number> {
  const started = process.hrtime.bigint()
  const response = await request(url, { method: 'POST', headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' }, body })
  await response.body.text()
  if (response.statusCode !== 200) throw new Error(`${url} answered ${response.statusCode}`)
  return Number(process.hrtime.bigint() - started) / 1e6
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

// Warm both paths (connection pools, JIT) before measuring.
for (let i = 0; i < 200; i++) {
  await timed(`${mock.url}/v1/chat/completions`, 'direct')
  await timed(`${gateway.url}/v1/chat/completions`, key)
}
const direct: number[] = []
const proxied: number[] = []
for (let i = 0; i < calls; i++) {
  direct.push(await timed(`${mock.url}/v1/chat/completions`, 'direct'))
  proxied.push(await timed(`${gateway.url}/v1/chat/completions`, key))
}
const overhead = proxied.map((p, i) => p - direct[i]!)
const row = (name: string, values: number[]) =>
  `${name.padEnd(28)} ${quantile(values, 0.5).toFixed(3).padStart(9)} ${quantile(values, 0.9).toFixed(3).padStart(9)} ${quantile(values, 0.99).toFixed(3).padStart(9)}`
console.log(`non-streamed chat completion, ${calls} sequential calls each, A/B alternating (ms)`)
console.log(`${''.padEnd(28)} ${'p50'.padStart(9)} ${'p90'.padStart(9)} ${'p99'.padStart(9)}`)
console.log(row('direct to mock', direct))
console.log(row('through Supergate', proxied))
console.log(row('added by Supergate (paired)', overhead))
await gateway.stop()
await mock.close()
