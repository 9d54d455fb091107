/**
 * The subset of Anthropic's Messages API (version 2026-10-21) that the adapter sends and reads, named
 * as on the wire. Shapes follow the official SDK's types (`MessageCreateParams`, `Message`,
 * `RawMessageStreamEvent`, `ErrorResponse`).
 */

export interface TextBlock {
  type: 'text'
  text: string
}

export interface ImageBlock {
  type: 'image'
  source: { type: 'base64'; media_type: ImageMediaType; data: string } | { type: 'url'; url: string }
}

export type ImageMediaType = 'image/jpeg' | 'image/png' | 'image/gif' | 'image/webp'

export interface DocumentBlock {
  type: 'document'
  source: { type: 'base64'; media_type: 'application/pdf'; data: string }
  title?: string
}

export interface ToolUseBlock {
  type: 'tool_use'
  id: string
  name: string
  /** Always a JSON object on the wire, never the string OpenAI uses. */
  input: Record<string, unknown>
}

export interface ToolResultBlock {
  type: 'tool_result'
  tool_use_id: string
  content?: string | TextBlock[]
}

export type RequestBlock = TextBlock | ImageBlock | DocumentBlock | ToolUseBlock | ToolResultBlock

export interface MessageParam {
  role: 'user' | 'assistant'
  content: RequestBlock[]
}

export interface ToolParam {
  name: string
  description?: string
  input_schema: Record<string, unknown>
  strict?: boolean
}

export type ToolChoiceParam =
  | { type: 'auto' | 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' }

export type ThinkingParam =
  | { type: 'enabled'; budget_tokens: number }
  | { type: 'adaptive' }
  | { type: 'disabled' }
  | { type: 'between_tools' }

export type Effort = 'low' | 'medium' | 'high' | 'xhigh' | 'max'

export interface OutputConfig {
  effort?: Effort
  format?: { type: 'json_schema'; schema: Record<string, unknown> }
}

export interface MessageCreateParams {
  model: string
  max_tokens: number
  messages: MessageParam[]
  system?: TextBlock[]
  stop_sequences?: string[]
  stream?: boolean
  metadata?: { user_id: string }
  tools?: ToolParam[]
  tool_choice?: ToolChoiceParam
  thinking?: ThinkingParam
  output_config?: OutputConfig
  service_tier?: 'auto' | 'standard_only'
}

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'pause_turn' | 'refusal' | 'model_context_window_exceeded'

/** `input_tokens` counts only the tokens after the last cache breakpoint: cache reads and writes are separate. */
export interface Usage {
  input_tokens: number | null
  output_tokens: number
  cache_creation_input_tokens?: number | null
  cache_read_input_tokens?: number | null
  /** Part of output_tokens. */
  output_tokens_details?: { thinking_tokens: number } | null
}

export type ResponseBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'redacted_thinking'; data: string }
  | { type: string }

export interface Message {
  id: string
  type: 'message'
  role: 'assistant'
  model: string
  content: ResponseBlock[]
  stop_reason: StopReason | null
  stop_sequence: string | null
  usage: Usage
}

export type ContentDelta =
  | { type: 'text_delta'; text: string }
  | { type: 'input_json_delta'; partial_json: string }
  | { type: 'thinking_delta'; thinking: string }
  | { type: 'signature_delta'; signature: string }
  | { type: 'citations_delta' }

export type StreamEvent =
  | { type: 'message_start'; message: Message }
  | { type: 'content_block_start'; index: number; content_block: ResponseBlock }
  | { type: 'content_block_delta'; index: number; delta: ContentDelta }
  | { type: 'content_block_stop'; index: number }
  /** `usage` here is cumulative for the whole message, not an increment. */
  | { type: 'message_delta'; delta: { stop_reason: StopReason | null; stop_sequence: string | null }; usage: Partial<Usage> }
  | { type: 'message_stop' }
  | { type: 'ping' }
  | { type: 'error'; error: ErrorObject }

export interface ErrorObject {
  type: string
  message: string
  details?: { error_code?: string } | null
}

/** Every error body, including the `event: error` of a stream: `{ type: 'error', error: {...}, request_id }`. */
export interface ErrorResponse {
  type: 'error'
  error: ErrorObject
  request_id?: string | null
}
