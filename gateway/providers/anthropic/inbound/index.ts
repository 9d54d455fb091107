/**
 * The inbound side of the gateway's native Anthropic endpoint (`POST /v1/messages`): pure translation
 * between Anthropic's Messages wire format and the canonical OpenAI shape, so Anthropic SDK users can reach
 * any provider. The route (HTTP, auth, `anthropic-version` header) lives elsewhere and calls these.
 */
export { parseMessagesRequest, type ParseOptions } from './request.ts'
export { messageIdFor, toMessagesResponse } from './response.ts'
export { createMessagesStreamEncoder, type MessagesStreamEncoder } from './stream.ts'
export { toAnthropicError, toAnthropicStreamError } from './errors.ts'
export { CURRENT_ANTHROPIC_VERSION, type AnthropicErrorBody, type AnthropicVersion, type MessageOut, type SseOut } from './wire.ts'
