import type { ProviderAdapter } from '../types.ts'
import { COHERE_BASE_URL, cohereStreamError, parseCohereError } from './api.ts'
import { cohereEmbeddings } from './embeddings.ts'
import { buildCohereChatRequest } from './request.ts'
import { parseCohereChatResponse } from './response.ts'
import { cohereStream } from './stream.ts'

export const cohere: ProviderAdapter = {
  name: 'cohere',
  defaultBaseUrl: COHERE_BASE_URL,
  // `c4ai-` is Cohere Labs' prefix for the research models Cohere's API also serves (Aya).
  modelPrefixes: ['command', 'embed-', 'c4ai-'],
  models: [
    { id: 'command-a-plus-05-2026', kind: 'chat' },
    { id: 'command-a-03-2025', kind: 'chat' },
    { id: 'command-a-reasoning-08-2025', kind: 'chat' },
    { id: 'command-a-vision-07-2025', kind: 'chat' },
    { id: 'command-r-plus-08-2024', kind: 'chat' },
    { id: 'command-r-08-2024', kind: 'chat' },
    { id: 'command-r7b-12-2024', kind: 'chat' },
    { id: 'embed-v4.0', kind: 'embedding' },
    { id: 'embed-english-v3.0', kind: 'embedding' },
    { id: 'embed-multilingual-v3.0', kind: 'embedding' },
    { id: 'embed-english-light-v3.0', kind: 'embedding' },
    { id: 'embed-multilingual-light-v3.0', kind: 'embedding' },
  ],
  chat: { buildRequest: buildCohereChatRequest, parseResponse: parseCohereChatResponse, stream: cohereStream },
  embeddings: cohereEmbeddings,
  parseError: parseCohereError,
  streamError: cohereStreamError,
}
