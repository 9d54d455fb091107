import { z } from 'zod'

/** OpenAI's Embeddings API, the gateway's canonical embeddings shape. */
export const embeddingsRequest = z
  .object({
    model: z.string().min(1),
    input: z.union([
      z.string(),
      z.array(z.string()).min(1).max(2048),
      z.array(z.number().int().min(0)).min(1),
      z.array(z.array(z.number().int().min(0)).min(1)).min(1).max(2048),
    ]),
    encoding_format: z.enum(['float', 'base64']).optional(),
    dimensions: z.number().int().min(1).optional(),
    user: z.string().optional(),
  })
  .strict()
export type EmbeddingsRequest = z.infer<typeof embeddingsRequest>

/** The inputs as strings: token-array inputs are only meaningful to OpenAI, whose adapter passes them as they are. */
export function inputTexts(input: EmbeddingsRequest['input']): string[] | undefined {
  if (typeof input === 'string') return [input]
  if (input.every((x): x is string => typeof x === 'string')) return input
  return undefined
}

export interface EmbeddingsResponse {
  object: 'list'
  data: { object: 'embedding'; index: number; embedding: number[] | string }[]
  model: string
  usage: { prompt_tokens: number; total_tokens: number }
}

/** OpenAI's base64 encoding: the vector's float32 values, little-endian, as one base64 string. */
export function toBase64Float32(vector: readonly number[]): string {
  const buffer = Buffer.alloc(vector.length * 4)
  for (let i = 0; i < vector.length; i++) buffer.writeFloatLE(vector[i]!, i * 4)
  return buffer.toString('base64')
}
