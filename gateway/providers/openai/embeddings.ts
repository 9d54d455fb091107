import type { EmbeddingsRequest } from '../../api/embeddings.ts'
import type { CallContext, EmbeddingsAdapter, EmbeddingsResult, UpstreamRequest } from '../types.ts'
import { openaiHeaders } from './api.ts'

interface OpenAiEmbeddingsBody {
  data: { index: number; embedding: number[] }[]
  usage?: { prompt_tokens: number; total_tokens: number }
}

export function buildOpenAiEmbeddingsRequest(request: EmbeddingsRequest, ctx: CallContext): UpstreamRequest {
  // Floats from upstream: the core encodes base64 itself when the client asks, the same for every provider.
  return {
    method: 'POST',
    url: `${ctx.credential.baseUrl}/embeddings`,
    headers: openaiHeaders(ctx.credential),
    body: { ...request, model: ctx.model, encoding_format: 'float' },
  }
}

export function parseOpenAiEmbeddingsResponse(body: unknown): EmbeddingsResult {
  const b = body as OpenAiEmbeddingsBody
  if (!Array.isArray(b?.data)) throw new TypeError('not an embeddings list')
  const vectors = [...b.data].sort((x, y) => x.index - y.index).map((d) => d.embedding)
  const prompt = b.usage?.prompt_tokens ?? 0
  return {
    vectors,
    usage: { promptTokens: prompt, completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: b.usage === undefined },
  }
}

export const openAiEmbeddings: EmbeddingsAdapter = {
  buildRequest: buildOpenAiEmbeddingsRequest,
  parseResponse: (body) => parseOpenAiEmbeddingsResponse(body),
}
