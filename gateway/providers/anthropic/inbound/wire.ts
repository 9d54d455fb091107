/**
 * What the gateway's own `POST /v1/messages` endpoint answers, named as on Anthropic's wire (API versions
 * 2023-06-01 and 2026-10-21; shapes from the official SDK's `Message`, `RawMessageStreamEvent` and
 * `ErrorResponse`). Fields the gateway cannot know (container, diagnostics, inference_geo, ...) are sent
 * as null, as Anthropic does when they do not apply, so SDK types that require them still hold.
 */

export type AnthropicVersion = '2023-06-01' | '2026-10-21'
export const CURRENT_ANTHROPIC_VERSION: AnthropicVersion = '2026-10-21'

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'pause_turn' | 'refusal' | 'model_context_window_exceeded'

export interface TextBlockOut {
  type: 'text'
  text: string
  citations: null
}

export interface ToolUseBlockOut {
  type: 'tool_use'
  id: string
  name: string
  input: Record<string, unknown>
  caller: { type: 'direct' }
}

export type ContentBlockOut = TextBlockOut | ToolUseBlockOut

export interface RefusalStopDetails {
  type: 'refusal'
  category: null
  explanation: string | null
}

export interface MessageUsage {
  input_tokens: number
  output_tokens: number
  cache_creation_input_tokens: number | null
  cache_read_input_tokens: number | null
  cache_creation: null
  inference_geo: null
  output_tokens_details: { thinking_tokens: number } | null
  server_tool_use: null
  service_tier: null
  speed: null
}

export interface MessageOut {
  id: string
  type: 'message'
  role: 'assistant'
  model: string
  content: ContentBlockOut[]
  stop_reason: StopReason | null
  stop_sequence: string | null
  stop_details: RefusalStopDetails | null
  container: null
  diagnostics: null
  usage: MessageUsage
}

/** `message_delta.usage`: cumulative totals; null where unknown (the SDK keeps its earlier value then). */
export interface MessageDeltaUsage {
  input_tokens: number | null
  output_tokens: number
  cache_creation_input_tokens: number | null
  cache_read_input_tokens: number | null
  output_tokens_details: { thinking_tokens: number } | null
  server_tool_use: null
}

export type StreamEventOut =
  | { type: 'message_start'; message: MessageOut }
  | { type: 'ping' }
  | { type: 'content_block_start'; index: number; content_block: ContentBlockOut }
  | { type: 'content_block_delta'; index: number; delta: { type: 'text_delta'; text: string } | { type: 'input_json_delta'; partial_json: string } }
  | { type: 'content_block_stop'; index: number }
  | {
      type: 'message_delta'
      delta: { stop_reason: StopReason; stop_sequence: null; stop_details: RefusalStopDetails | null; container: null }
      usage: MessageDeltaUsage
    }
  | { type: 'message_stop' }

/** One server-sent event for the route to frame: `event: <event>\ndata: <data>\n\n`. */
export interface SseOut {
  event: string
  data: string
}

export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error'

export interface AnthropicErrorBody {
  type: 'error'
  error: { type: AnthropicErrorType; message: string }
  request_id: string | null
}
