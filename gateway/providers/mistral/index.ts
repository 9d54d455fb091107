import type { ProviderAdapter } from '../types.ts'
import { MISTRAL_BASE_URL, mistralStreamError, parseMistralError } from './api.ts'
import { mistralEmbeddings } from './embeddings.ts'
import { buildMistralChatRequest } from './request.ts'
import { parseMistralChatResponse } from './response.ts'
import { mistralStream } from './stream.ts'

/**
 * Mistral's API is OpenAI-like; this adapter reuses the OpenAI adapter's auth, usage and embeddings
 * parsing and adds only the differences: renamed and refused parameters, 9-character tool-call ids,
 * the last-message rule, content chunks, finish reasons and Mistral's error bodies.
 */
export const mistral: ProviderAdapter = {
  name: 'mistral',
  defaultBaseUrl: MISTRAL_BASE_URL,
  modelPrefixes: ['mistral-', 'open-mistral', 'open-mixtral', 'codestral', 'pixtral', 'ministral', 'magistral', 'devstral', 'voxtral'],
  models: [
    { id: 'mistral-large-latest', kind: 'chat' },
    { id: 'mistral-medium-latest', kind: 'chat' },
    { id: 'mistral-small-latest', kind: 'chat' },
    { id: 'ministral-14b-latest', kind: 'chat' },
    { id: 'ministral-8b-latest', kind: 'chat' },
    { id: 'ministral-3b-latest', kind: 'chat' },
    { id: 'codestral-latest', kind: 'chat' },
    { id: 'devstral-medium-latest', kind: 'chat' },
    { id: 'devstral-small-latest', kind: 'chat' },
    { id: 'pixtral-large-latest', kind: 'chat' },
    { id: 'voxtral-small-latest', kind: 'chat' },
    { id: 'voxtral-mini-latest', kind: 'chat' },
    { id: 'mistral-embed', kind: 'embedding' },
    { id: 'codestral-embed', kind: 'embedding' },
  ],
  chat: { buildRequest: buildMistralChatRequest, parseResponse: parseMistralChatResponse, stream: mistralStream },
  embeddings: mistralEmbeddings,
  parseError: parseMistralError,
  streamError: mistralStreamError,
}
