import type { ProviderAdapter } from '../types.ts'
import { OPENAI_BASE_URL, openAiStreamError, parseOpenAiError } from './api.ts'
import { openAiEmbeddings } from './embeddings.ts'
import { buildOpenAiChatRequest } from './request.ts'
import { parseOpenAiChatResponse } from './response.ts'
import { openAiStream } from './stream.ts'

export const openai: ProviderAdapter = {
  name: 'openai',
  defaultBaseUrl: OPENAI_BASE_URL,
  modelPrefixes: ['gpt-', 'chatgpt-', 'o1', 'o3', 'o4', 'text-embedding-'],
  models: [
    { id: 'gpt-5', kind: 'chat' },
    { id: 'gpt-5-mini', kind: 'chat' },
    { id: 'gpt-5-nano', kind: 'chat' },
    { id: 'gpt-4.1', kind: 'chat' },
    { id: 'gpt-4.1-mini', kind: 'chat' },
    { id: 'gpt-4o', kind: 'chat' },
    { id: 'gpt-4o-mini', kind: 'chat' },
    { id: 'o3', kind: 'chat' },
    { id: 'o4-mini', kind: 'chat' },
    { id: 'text-embedding-3-small', kind: 'embedding' },
    { id: 'text-embedding-3-large', kind: 'embedding' },
  ],
  chat: { buildRequest: buildOpenAiChatRequest, parseResponse: parseOpenAiChatResponse, stream: openAiStream },
  embeddings: openAiEmbeddings,
  parseError: parseOpenAiError,
  streamError: openAiStreamError,
}
