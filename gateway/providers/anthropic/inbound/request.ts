import type { ChatCompletionRequest, Tool, ToolChoice } from '../../../api/chat-completions.ts'
import { translateConversation } from './conversation.ts'
import { customTool, currentRequestSchema, legacyRequestSchema, type MessagesRequest } from './request-schema.ts'
import { invalidRequest, isRecord, parseWith, unsupportedField } from './validation.ts'
import { CURRENT_ANTHROPIC_VERSION, type AnthropicVersion } from './wire.ts'

export interface ParseOptions {
  /**
   * The client's `anthropic-version` header. `2023-06-01` still accepts temperature / top_p / top_k;
   * any other value (or none) is validated as the current version, 2026-10-21, which rejects them.
   */
  anthropicVersion?: string
}

type Effort = NonNullable<ChatCompletionRequest['reasoning_effort']>

/**
 * An Anthropic Messages request → the canonical (OpenAI Chat Completions) request. Throws GatewayError:
 * `invalid_request` where Anthropic would answer 400 itself, `unsupported_parameter` where the request is
 * valid Anthropic but cannot be carried to another provider. Every such error names the field in `param`.
 * One deliberate exception to "never drop": `cache_control` (top level, on blocks and on tools) is accepted
 * and dropped. It changes Anthropic's cost and latency, never the output, and refusing it would turn away
 * every client that marks cache breakpoints (Claude Code marks them on most requests).
 */
export function parseMessagesRequest(body: unknown, options: ParseOptions = {}): ChatCompletionRequest {
  const version: AnthropicVersion = options.anthropicVersion === '2023-06-01' ? '2023-06-01' : CURRENT_ANTHROPIC_VERSION
  const req: MessagesRequest = parseWith(version === '2023-06-01' ? legacyRequestSchema : currentRequestSchema, body, '')
  refuseUntranslatable(req)

  const request: ChatCompletionRequest = {
    model: req.model,
    messages: translateConversation(req.system, req.messages, version),
    // Anthropic's max_tokens counts thinking tokens too, as max_completion_tokens counts reasoning.
    max_completion_tokens: req.max_tokens,
  }
  if (req.stream !== undefined) request.stream = req.stream
  if (req.temperature !== undefined) request.temperature = req.temperature
  if (req.top_p !== undefined) request.top_p = req.top_p
  if (req.stop_sequences !== undefined && req.stop_sequences.length > 0) {
    if (req.stop_sequences.length > 4) throw unsupportedField('stop_sequences', 'at most 4 stop sequences can be routed to every provider')
    request.stop = req.stop_sequences
  }
  if (req.metadata?.user_id !== undefined && req.metadata.user_id !== null) request.user = req.metadata.user_id

  if (req.tools !== undefined && req.tools.length > 0) request.tools = req.tools.map(translateTool)
  if (req.tool_choice !== undefined) {
    request.tool_choice = translateToolChoice(req.tool_choice, request.tools)
    if ('disable_parallel_tool_use' in req.tool_choice && req.tool_choice.disable_parallel_tool_use === true) request.parallel_tool_calls = false
  }

  const format = req.output_config?.format
  if (format !== undefined && format !== null) {
    // Anthropic's structured outputs always follow the schema: OpenAI's strict mode is the equivalent.
    request.response_format = { type: 'json_schema', json_schema: { name: 'output', schema: format.schema, strict: true } }
  }
  const effort = reasoningEffort(req)
  if (effort !== undefined) request.reasoning_effort = effort
  return request
}

/** Anthropic parameters with no canonical equivalent: refused by name, or accepted where they are the default. */
function refuseUntranslatable(req: MessagesRequest): void {
  if (req.max_tokens === 0) throw unsupportedField('max_tokens', 'max_tokens 0 pre-warms Anthropic’s prompt cache; other providers have no equivalent')
  if (req.top_k !== undefined) throw unsupportedField('top_k', 'OpenAI-style providers have no top_k')
  if (req.container !== undefined && req.container !== null) throw unsupportedField('container', 'containers exist only on Anthropic')
  if (req.diagnostics !== undefined && req.diagnostics !== null) throw unsupportedField('diagnostics', 'prompt-cache diagnostics exist only on Anthropic')
  if (req.inference_geo !== undefined && req.inference_geo !== null) throw unsupportedField('inference_geo', 'the gateway cannot pin where another provider runs inference')
  // 'auto' and 'standard' are Anthropic's defaults, so they ask for nothing a provider must honour.
  if (req.service_tier === 'standard_only') throw unsupportedField('service_tier', 'capacity tiers are provider-specific')
  if (req.speed === 'fast') throw unsupportedField('speed', 'fast mode exists only on Anthropic')
  if (req.thinking?.type === 'between_tools') throw unsupportedField('thinking.type', 'thinking between tool calls has no equivalent in the canonical request')
}

function translateTool(raw: unknown, i: number): Tool {
  if (isRecord(raw) && typeof raw.type === 'string' && raw.type !== 'custom') {
    throw unsupportedField(`tools.${i}.type`, `'${raw.type}' is an Anthropic server tool; only client tools (name, description, input_schema) can be routed`)
  }
  const tool = parseWith(customTool, raw, `tools.${i}`)
  if (tool.defer_loading === true) throw unsupportedField(`tools.${i}.defer_loading`, 'deferred tool loading needs Anthropic’s tool search')
  if (tool.input_examples !== undefined && tool.input_examples.length > 0) {
    throw unsupportedField(`tools.${i}.input_examples`, 'the canonical tool definition has no input examples')
  }
  if (tool.allowed_callers !== undefined && tool.allowed_callers.some((c) => c !== 'direct')) {
    throw unsupportedField(`tools.${i}.allowed_callers`, "only the model can call tools outside Anthropic's code execution")
  }
  // cache_control and eager_input_streaming are dropped: they change cost or chunking, never the output.
  return {
    type: 'function',
    function: {
      name: tool.name,
      ...(tool.description === undefined ? {} : { description: tool.description }),
      parameters: tool.input_schema,
      ...(tool.strict === undefined ? {} : { strict: tool.strict }),
    },
  }
}

function translateToolChoice(choice: NonNullable<MessagesRequest['tool_choice']>, tools: readonly Tool[] | undefined): ToolChoice {
  switch (choice.type) {
    case 'auto':
      return 'auto'
    case 'any':
      return 'required'
    case 'none':
      return 'none'
    case 'tool':
      if (!(tools ?? []).some((t) => t.function.name === choice.name)) {
        throw invalidRequest('tool_choice.name', `tool '${choice.name}' is not among the request's tools`)
      }
      return { type: 'function', function: { name: choice.name } }
  }
}

/**
 * Thinking → reasoning_effort. `disabled` → 'none'. An explicit output_config.effort wins next (xhigh and
 * max clamp to 'high', the canonical maximum). Otherwise an `enabled` budget maps by bands: under 4,096
 * tokens → low, under 16,384 → medium, above → high. `adaptive` (the model decides) leaves it unset,
 * which is each provider's own default. Thinking text is never returned: the canonical response has none.
 */
function reasoningEffort(req: MessagesRequest): Effort | undefined {
  const thinking = req.thinking
  if (thinking?.type === 'enabled') {
    if (thinking.budget_tokens < 1024) throw invalidRequest('thinking.budget_tokens', 'Input should be greater than or equal to 1024')
    if (thinking.budget_tokens >= req.max_tokens) throw invalidRequest('thinking.budget_tokens', '`max_tokens` must be greater than `thinking.budget_tokens`')
  }
  if (thinking?.type === 'disabled') return 'none'
  const effort = req.output_config?.effort
  if (effort !== undefined && effort !== null) return effort === 'xhigh' || effort === 'max' ? 'high' : effort
  if (thinking?.type !== 'enabled') return undefined
  if (thinking.budget_tokens < 4096) return 'low'
  return thinking.budget_tokens < 16_384 ? 'medium' : 'high'
}
