import { inputTexts } from '../../api/embeddings.ts'
import type { EmbeddingsRequest } from '../../api/embeddings.ts'
import { unsupportedParameter } from '../errors.ts'
import { parseOpenAiEmbeddingsResponse } from '../openai/embeddings.ts'
import type { CallContext, EmbeddingsAdapter, UpstreamRequest } from '../types.ts'
import { mistralHeaders } from './api.ts'

/**
 * `POST {baseUrl}/embeddings` with `model` and `input` (a string or a list), as OpenAI's; `dimensions` is
 * Mistral's `output_dimension` (codestral-embed; mistral-embed has a fixed size and says so). No
 * `encoding_format` is sent: Mistral's default is floats, and the core encodes base64 itself.
 */
export function buildMistralEmbeddingsRequest(request: EmbeddingsRequest, ctx: CallContext): UpstreamRequest {
  const texts = inputTexts(request.input)
  if (texts === undefined) throw unsupportedParameter('mistral', 'input', 'Mistral embeds text, not token arrays')
  if (request.user !== undefined) throw unsupportedParameter('mistral', 'user', 'Mistral has no end-user field and rejects it')
  return {
    method: 'POST',
    url: `${ctx.credential.baseUrl}/embeddings`,
    headers: mistralHeaders(ctx.credential),
    body: {
      model: ctx.model,
      input: typeof request.input === 'string' ? request.input : texts,
      ...(request.dimensions === undefined ? {} : { output_dimension: request.dimensions }),
    },
  }
}

/** The response is OpenAI's list shape (`data[].embedding`, `index`, `usage.prompt_tokens`). */
export const mistralEmbeddings: EmbeddingsAdapter = {
  buildRequest: buildMistralEmbeddingsRequest,
  parseResponse: (body) => parseOpenAiEmbeddingsResponse(body),
}
