import { inputTexts } from '../../api/embeddings.ts'
import type { EmbeddingsRequest } from '../../api/embeddings.ts'
import { unsupportedParameter } from '../errors.ts'
import { estimateTokens } from '../ids.ts'
import type { CallContext, EmbeddingsAdapter, EmbeddingsResult, UpstreamRequest } from '../types.ts'
import { geminiHeaders, geminiUrl } from './api.ts'

interface GeminiBatchEmbedResponse {
  embeddings?: { values?: number[] }[]
}

/**
 * batchEmbedContents reports no token usage, so the gateway meters an estimate of the inputs. parseResponse
 * is handed only the body and the input count, so buildRequest leaves its estimate here, by request id and
 * model, for parseResponse to take. Bounded: entries of requests that failed upstream are evicted oldest first.
 */
const pendingEstimates = new Map<string, number>()
const MAX_PENDING = 1024

const estimateKey = (ctx: CallContext) => `${ctx.requestId}\u0000${ctx.model}`

function rememberEstimate(ctx: CallContext, tokens: number): void {
  const key = estimateKey(ctx)
  pendingEstimates.delete(key)
  pendingEstimates.set(key, tokens)
  if (pendingEstimates.size > MAX_PENDING) pendingEstimates.delete(pendingEstimates.keys().next().value!)
}

function takeEstimate(ctx: CallContext): number {
  const key = estimateKey(ctx)
  const tokens = pendingEstimates.get(key) ?? 0
  pendingEstimates.delete(key)
  return tokens
}

/** POST {baseUrl}/models/{model}:batchEmbedContents, one request per input, each naming `models/{model}`. */
export function buildGeminiEmbeddingsRequest(request: EmbeddingsRequest, ctx: CallContext): UpstreamRequest {
  const texts = inputTexts(request.input)
  if (texts === undefined) throw unsupportedParameter('gemini', 'input', 'Gemini embeds text; token-array input is OpenAI\'s own')
  if (request.user !== undefined) throw unsupportedParameter('gemini', 'user', 'Gemini has no end-user identifier')
  rememberEstimate(ctx, texts.reduce((n, text) => n + estimateTokens(text), 0))
  const model = `models/${ctx.model}`
  // encoding_format is not sent: Gemini returns floats, and the core encodes base64 for clients that ask.
  return {
    method: 'POST',
    url: geminiUrl(ctx.credential, ctx.model, 'batchEmbedContents'),
    headers: geminiHeaders(ctx.credential),
    body: {
      requests: texts.map((text) => ({
        model,
        content: { parts: [{ text }] },
        ...(request.dimensions === undefined ? {} : { outputDimensionality: request.dimensions }),
      })),
    },
  }
}

/** `{ embeddings: [{ values }] }`, in the order of the requests. */
export function parseGeminiEmbeddingsResponse(body: unknown, ctx: CallContext & { inputCount: number }): EmbeddingsResult {
  const embeddings = (body as GeminiBatchEmbedResponse | null)?.embeddings
  if (!Array.isArray(embeddings) || embeddings.length !== ctx.inputCount || !embeddings.every((e) => Array.isArray(e.values))) {
    throw new TypeError('not a batchEmbedContents response for these inputs')
  }
  return {
    vectors: embeddings.map((e) => e.values!),
    usage: { promptTokens: takeEstimate(ctx), completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: true },
  }
}

export const geminiEmbeddings: EmbeddingsAdapter = {
  buildRequest: buildGeminiEmbeddingsRequest,
  parseResponse: parseGeminiEmbeddingsResponse,
}
