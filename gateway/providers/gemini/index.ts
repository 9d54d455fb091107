import type { ProviderAdapter } from '../types.ts'
import { GEMINI_BASE_URL, geminiStreamError, parseGeminiError } from './api.ts'
import { geminiEmbeddings } from './embeddings.ts'
import { buildGeminiChatRequest } from './request.ts'
import { parseGeminiChatResponse } from './response.ts'
import { geminiStream } from './stream.ts'

export const gemini: ProviderAdapter = {
  name: 'gemini',
  defaultBaseUrl: GEMINI_BASE_URL,
  // text-embedding-004 is not claimed: Google shut it down in favour of gemini-embedding-001.
  modelPrefixes: ['gemini-'],
  models: [
    { id: 'gemini-3.8-flash', kind: 'chat' },
    { id: 'gemini-3.7-flash', kind: 'chat' },
    { id: 'gemini-3.6-flash', kind: 'chat' },
    { id: 'gemini-3.5-flash', kind: 'chat' },
    { id: 'gemini-3.5-flash-lite', kind: 'chat' },
    { id: 'gemini-3.1-pro-preview', kind: 'chat' },
    { id: 'gemini-3.1-flash-lite', kind: 'chat' },
    { id: 'gemini-3-flash-preview', kind: 'chat' },
    { id: 'gemini-2.5-pro', kind: 'chat' },
    { id: 'gemini-2.5-flash', kind: 'chat' },
    { id: 'gemini-2.5-flash-lite', kind: 'chat' },
    { id: 'gemini-embedding-001', kind: 'embedding' },
  ],
  chat: { buildRequest: buildGeminiChatRequest, parseResponse: parseGeminiChatResponse, stream: geminiStream },
  embeddings: geminiEmbeddings,
  parseError: parseGeminiError,
  streamError: geminiStreamError,
}
