import type { ChatCompletionRequest } from '../../api/chat-completions.ts'
import type { CallContext, UpstreamRequest } from '../types.ts'
import { openaiHeaders } from './api.ts'

/**
 * The canonical request is OpenAI's own, so it passes as it is, with two changes: the provider's model
 * id, and, when streaming, `include_usage` always on: the gateway meters every stream, and strips the
 * usage chunk again for a client that did not ask for it.
 */
export function buildOpenAiChatRequest(request: ChatCompletionRequest, ctx: CallContext & { stream: boolean }): UpstreamRequest {
  const body: Record<string, unknown> = { ...request, model: ctx.model }
  if (ctx.stream) {
    body.stream = true
    body.stream_options = { ...(request.stream_options ?? {}), include_usage: true }
  } else {
    delete body.stream
    delete body.stream_options
  }
  return { method: 'POST', url: `${ctx.credential.baseUrl}/chat/completions`, headers: openaiHeaders(ctx.credential), body }
}
