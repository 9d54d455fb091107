import { inputTexts } from '../../api/embeddings.ts'
import type { EmbeddingsRequest } from '../../api/embeddings.ts'
import { unsupportedParameter } from '../errors.ts'
import { estimateTokens } from '../ids.ts'
import type { CallContext, EmbeddingsAdapter, EmbeddingsResult, UpstreamRequest } from '../types.ts'
import { cohereHeaders } from './api.ts'
import type { CohereEmbedRequest, CohereEmbedResponse } from './wire.ts'

/** Cohere's limit on texts per /v2/embed call. */
const MAX_TEXTS = 96

/**
 * `input_type` is required by Cohere's v3+ embed models and OpenAI's API has no field for it. The
 * gateway sends `search_document`, the type for text that is stored to be searched, which is what most
 * embeddings calls carry. A search query embedded this way still lands near its documents, with some
 * loss of retrieval quality: Cohere's `search_query` is not expressible through the OpenAI API.
 */
export const DEFAULT_INPUT_TYPE = 'search_document'

export function buildCohereEmbedRequest(request: EmbeddingsRequest, ctx: CallContext): UpstreamRequest {
  if (request.user !== undefined) throw unsupportedParameter('cohere', 'user', 'Cohere has no end-user identifier')
  const texts = inputTexts(request.input)
  if (texts === undefined) throw unsupportedParameter('cohere', 'input', 'Cohere embeds text, not token arrays')
  if (texts.length > MAX_TEXTS) throw unsupportedParameter('cohere', 'input', `Cohere embeds at most ${MAX_TEXTS} texts per request`)
  // Floats from upstream: the core encodes base64 itself when the client asks (encoding_format).
  const body: CohereEmbedRequest = { model: ctx.model, texts, input_type: DEFAULT_INPUT_TYPE, embedding_types: ['float'] }
  // Only embed-v4 and newer take output_dimension (256, 512, 1024 or 1536); Cohere rejects it otherwise.
  if (request.dimensions !== undefined) body.output_dimension = request.dimensions
  return { method: 'POST', url: `${ctx.credential.baseUrl}/embed`, headers: cohereHeaders(ctx.credential), body }
}

/** `embeddings.float` in input order; usage from `meta.billed_units` (what Cohere charges), then `meta.tokens`. */
export function parseCohereEmbedResponse(body: unknown, inputCount: number): EmbeddingsResult {
  const b = body as Partial<CohereEmbedResponse> | null
  const vectors = b?.embeddings?.float
  if (!Array.isArray(vectors) || vectors.length !== inputCount) throw new TypeError('not a Cohere float embeddings response')
  const billed = b?.meta?.billed_units?.input_tokens ?? b?.meta?.tokens?.input_tokens
  const promptTokens = billed ?? (b?.texts ?? []).reduce((n, t) => n + estimateTokens(t), 0)
  return {
    vectors,
    usage: { promptTokens, completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, estimated: billed === undefined },
  }
}

export const cohereEmbeddings: EmbeddingsAdapter = {
  buildRequest: buildCohereEmbedRequest,
  parseResponse: (body, ctx) => parseCohereEmbedResponse(body, ctx.inputCount),
}
