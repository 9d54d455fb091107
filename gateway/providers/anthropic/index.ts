import type { ProviderAdapter } from '../types.ts'
import { ANTHROPIC_BASE_URL, anthropicStreamError, parseAnthropicError } from './api.ts'
import { ANTHROPIC_MODELS } from './models.ts'
import { buildAnthropicChatRequest } from './request.ts'
import { parseAnthropicChatResponse } from './response.ts'
import { anthropicStream } from './stream.ts'

/** Anthropic's Messages API (version 2026-10-21). Anthropic has no embeddings API, so none is offered. */
export const anthropic: ProviderAdapter = {
  name: 'anthropic',
  defaultBaseUrl: ANTHROPIC_BASE_URL,
  modelPrefixes: ['claude-'],
  models: ANTHROPIC_MODELS,
  chat: { buildRequest: buildAnthropicChatRequest, parseResponse: parseAnthropicChatResponse, stream: anthropicStream },
  parseError: parseAnthropicError,
  streamError: anthropicStreamError,
}
