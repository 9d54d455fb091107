/**
 * Cohere's API v2 wire format (POST /v2/chat, POST /v2/embed), as its reference and the official
 * `cohere-ai` SDK's serialisers define it: snake_case fields, lower-case roles and content types,
 * UPPER-CASE enums (tool_choice, finish_reason, truncate, safety_mode).
 */

export interface CohereTextPart {
  type: 'text'
  text: string
}
export interface CohereImagePart {
  type: 'image_url'
  image_url: { url: string; detail?: 'auto' | 'low' | 'high' }
}
export interface CohereThinkingPart {
  type: 'thinking'
  thinking: string
}

export interface CohereToolCall {
  id: string
  type: 'function'
  function: { name: string; arguments: string }
}

export type CohereMessage =
  | { role: 'system'; content: string | CohereTextPart[] }
  | { role: 'user'; content: string | (CohereTextPart | CohereImagePart)[] }
  | { role: 'assistant'; content?: string | CohereTextPart[]; tool_calls?: CohereToolCall[]; tool_plan?: string }
  | { role: 'tool'; tool_call_id: string; content: string | CohereTextPart[] }

export interface CohereTool {
  type: 'function'
  function: { name: string; description?: string; parameters: Record<string, unknown> }
}

export interface CohereChatRequest {
  model: string
  messages: CohereMessage[]
  stream: boolean
  tools?: CohereTool[]
  strict_tools?: boolean
  tool_choice?: 'REQUIRED' | 'NONE'
  response_format?: { type: 'text' } | { type: 'json_object'; json_schema?: Record<string, unknown> }
  max_tokens?: number
  stop_sequences?: string[]
  temperature?: number
  seed?: number
  frequency_penalty?: number
  presence_penalty?: number
  p?: number
  thinking?: { type: 'enabled' | 'disabled'; token_budget?: number }
}

export type CohereFinishReason = 'COMPLETE' | 'STOP_SEQUENCE' | 'MAX_TOKENS' | 'TOOL_CALL' | 'ERROR' | 'TIMEOUT'

/** Billed units are what Cohere charges; `tokens` also counts the prompt Cohere adds itself. */
export interface CohereUsage {
  billed_units?: { input_tokens?: number; output_tokens?: number }
  tokens?: { input_tokens?: number; output_tokens?: number }
  cached_tokens?: number
}

export interface CohereChatResponse {
  id: string
  finish_reason: CohereFinishReason
  message: {
    role: 'assistant'
    content?: (CohereTextPart | CohereThinkingPart)[]
    tool_plan?: string
    tool_calls?: CohereToolCall[]
    citations?: unknown[]
  }
  usage?: CohereUsage
}

/** One stream event's JSON (the SSE `event:` line repeats `type`). Fields by event type; all optional. */
export interface CohereStreamEvent {
  type: string
  id?: string
  index?: number
  delta?: {
    message?: {
      role?: 'assistant'
      content?: { type?: 'text' | 'thinking'; text?: string; thinking?: string }
      tool_plan?: string
      tool_calls?: { id?: string; type?: 'function'; function?: { name?: string; arguments?: string } }
    }
    finish_reason?: CohereFinishReason
    error?: string
    usage?: CohereUsage
  }
}

export type CohereEmbedInputType = 'search_document' | 'search_query' | 'classification' | 'clustering' | 'image'

export interface CohereEmbedRequest {
  model: string
  texts: string[]
  input_type: CohereEmbedInputType
  embedding_types: ['float']
  output_dimension?: number
}

export interface CohereEmbedResponse {
  id: string
  embeddings: { float?: number[][] }
  texts?: string[]
  meta?: { billed_units?: { input_tokens?: number }; tokens?: { input_tokens?: number } }
}

/** Every Cohere error body: `{ message }`, with an `id` on most current responses. */
export interface CohereErrorBody {
  id?: string
  message?: string
}
