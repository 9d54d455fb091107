import type { ChatCompletionRequest, Tool } from '../../api/chat-completions.ts'
import { GatewayError } from '../../errors.ts'
import { unsupportedParameter } from '../errors.ts'
import type { CallContext, UpstreamRequest } from '../types.ts'
import { geminiHeaders, geminiUrl, isBeforeGemini3 } from './api.ts'
import { translateMessages } from './contents.ts'
import { toGeminiJsonSchema, toGeminiParameters } from './schema.ts'
import type { GeminiFunctionDeclaration, GeminiGenerateContentRequest, GeminiGenerationConfig, GeminiThinkingLevel, GeminiToolConfig } from './wire.ts'

type Effort = NonNullable<ChatCompletionRequest['reasoning_effort']>

const set = <T>(value: T | null | undefined): value is T => value !== null && value !== undefined

/** Fields Gemini has no equivalent for: refused by name rather than dropped. */
function refuseUnsupported(request: ChatCompletionRequest): void {
  const refuse = (param: string, why: string) => {
    throw unsupportedParameter('gemini', param, why)
  }
  if (set(request.n) && request.n > 1) refuse('n', 'the gateway returns one Gemini candidate per request')
  if (request.logprobs === true) refuse('logprobs', 'Gemini log probabilities are not translated to OpenAI\'s shape')
  if (set(request.top_logprobs)) refuse('top_logprobs', 'Gemini log probabilities are not translated to OpenAI\'s shape')
  if (set(request.logit_bias)) refuse('logit_bias', 'Gemini has no token biasing')
  if (set(request.user)) refuse('user', 'Gemini has no end-user identifier')
  if (set(request.metadata)) refuse('metadata', 'Gemini stores no request metadata')
  if (request.store === true) refuse('store', 'Gemini does not store completions')
  if (set(request.service_tier)) refuse('service_tier', 'OpenAI service tiers have no Gemini equivalent')
  if (set(request.modalities) && request.modalities.some((m) => m !== 'text')) refuse('modalities', 'the gateway asks Gemini for text only')
  if (set(request.prediction)) refuse('prediction', 'Gemini has no predicted outputs')
  if (set(request.prompt_cache_key)) refuse('prompt_cache_key', 'Gemini caches prompts implicitly, without keys')
  if (set(request.safety_identifier)) refuse('safety_identifier', 'Gemini has no end-user safety identifier')
  if (set(request.verbosity)) refuse('verbosity', 'Gemini has no verbosity control')
  if (request.parallel_tool_calls === false) refuse('parallel_tool_calls', 'Gemini cannot be told to call at most one function')
}

/** A Gemini function name starts with a letter or underscore; OpenAI's may start with a digit or dash. */
const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/

function declarations(tools: readonly Tool[]): GeminiFunctionDeclaration[] {
  return tools.map(({ function: fn }, i) => {
    if (!FUNCTION_NAME.test(fn.name)) {
      throw unsupportedParameter('gemini', `tools[${i}].function.name`, 'Gemini function names must start with a letter or an underscore')
    }
    // `strict` is not sent: Gemini has no per-function strict flag (the schema still constrains the arguments).
    return { name: fn.name, ...(fn.description === undefined ? {} : { description: fn.description }), ...toGeminiParameters(fn.parameters) }
  })
}

function toolConfig(request: ChatCompletionRequest): GeminiToolConfig | undefined {
  const choice = request.tool_choice
  const hasTools = (request.tools?.length ?? 0) > 0
  if (choice === undefined || (!hasTools && (choice === 'auto' || choice === 'none'))) return undefined
  if (!hasTools) throw new GatewayError('invalid_request', "'tool_choice' requires 'tools'", 'tool_choice')
  if (choice === 'auto') return { functionCallingConfig: { mode: 'AUTO' } }
  if (choice === 'none') return { functionCallingConfig: { mode: 'NONE' } }
  if (choice === 'required') return { functionCallingConfig: { mode: 'ANY' } }
  const name = choice.function.name
  if (!request.tools!.some((t) => t.function.name === name)) {
    throw new GatewayError('invalid_request', `tool_choice names '${name}', which is not among the tools`, 'tool_choice')
  }
  return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [name] } }
}

/**
 * Gemini 2.x sizes thinking in tokens; Gemini 3 by level. The budgets are those Google's own OpenAI
 * compatibility layer uses for low/medium/high; `minimal` is the smallest budget every 2.5 model accepts.
 */
const BUDGETS: Record<Exclude<Effort, 'none'>, number> = { minimal: 512, low: 1024, medium: 8192, high: 24576 }

function thinkingConfig(effort: Effort, model: string): NonNullable<GeminiGenerationConfig['thinkingConfig']> {
  if (isBeforeGemini3(model)) {
    if (effort !== 'none') return { thinkingBudget: BUDGETS[effort] }
    if (/-pro(\b|-)/.test(model)) throw unsupportedParameter('gemini', 'reasoning_effort', `${model} cannot turn thinking off; use 'minimal' or 'low'`)
    return { thinkingBudget: 0 }
  }
  // Gemini 3 cannot turn thinking off; MINIMAL is its closest to none ("no thinking for most queries").
  const level: GeminiThinkingLevel = effort === 'none' ? 'MINIMAL' : (effort.toUpperCase() as GeminiThinkingLevel)
  return { thinkingLevel: level }
}

function generationConfig(request: ChatCompletionRequest, model: string, imageDetail: 'low' | 'high' | undefined): GeminiGenerationConfig {
  const config: GeminiGenerationConfig = {}
  if (set(request.temperature)) config.temperature = request.temperature
  if (set(request.top_p)) config.topP = request.top_p
  const maxTokens = request.max_completion_tokens ?? request.max_tokens
  if (set(maxTokens)) config.maxOutputTokens = maxTokens
  if (set(request.stop)) config.stopSequences = typeof request.stop === 'string' ? [request.stop] : request.stop
  if (set(request.seed)) config.seed = request.seed
  if (set(request.presence_penalty)) config.presencePenalty = request.presence_penalty
  if (set(request.frequency_penalty)) config.frequencyPenalty = request.frequency_penalty
  const format = request.response_format
  if (format?.type === 'json_object') config.responseMimeType = 'application/json'
  if (format?.type === 'json_schema') {
    config.responseMimeType = 'application/json'
    const { schema, description } = format.json_schema
    // responseJsonSchema takes JSON Schema as it is (additionalProperties, $ref, anyOf …) and Gemini
    // decodes to it, which is what `strict` asks for; the schema's `name` is only a label.
    if (schema !== undefined) {
      const json = toGeminiJsonSchema(schema)
      config.responseJsonSchema = description !== undefined && json.description === undefined ? { ...json, description } : json
    }
  }
  if (set(request.reasoning_effort)) config.thinkingConfig = thinkingConfig(request.reasoning_effort, model)
  if (imageDetail !== undefined) config.mediaResolution = imageDetail === 'low' ? 'MEDIA_RESOLUTION_LOW' : 'MEDIA_RESOLUTION_HIGH'
  return config
}

/**
 * POST {baseUrl}/models/{model}:generateContent, or :streamGenerateContent?alt=sse. `stream_options` is
 * the gateway's own business (Gemini reports usage in every stream chunk anyway) and is not sent.
 */
export function buildGeminiChatRequest(request: ChatCompletionRequest, ctx: CallContext & { stream: boolean }): UpstreamRequest {
  refuseUnsupported(request)
  const { systemInstruction, contents, imageDetail } = translateMessages(request.messages, ctx.model)
  const body: GeminiGenerateContentRequest = { contents }
  if (systemInstruction !== undefined) body.systemInstruction = systemInstruction
  if (request.tools !== undefined && request.tools.length > 0) body.tools = [{ functionDeclarations: declarations(request.tools) }]
  const tc = toolConfig(request)
  if (tc !== undefined) body.toolConfig = tc
  const config = generationConfig(request, ctx.model, imageDetail)
  if (Object.keys(config).length > 0) body.generationConfig = config
  return {
    method: 'POST',
    url: geminiUrl(ctx.credential, ctx.model, ctx.stream ? 'streamGenerateContent' : 'generateContent'),
    headers: geminiHeaders(ctx.credential),
    body,
  }
}
