/**
 * The Gemini API's own shapes (Generative Language API v1beta, REST with camelCase JSON), as far as the
 * gateway writes or reads them. Field names follow the API reference and the official @google/genai types.
 */

export interface GeminiBlob {
  mimeType: string
  /** Base64. */
  data: string
}

export interface GeminiFileData {
  mimeType?: string
  fileUri: string
}

export interface GeminiFunctionCall {
  /** Optional in the API: newer models return one, older ones do not. */
  id?: string
  name: string
  args?: Record<string, unknown>
}

export interface GeminiFunctionResponse {
  id?: string
  name: string
  /** Must be a JSON object; `output` is the key the reference documents for a function's result. */
  response: Record<string, unknown>
}

export interface GeminiPart {
  text?: string
  /** A thought (reasoning summary) part: never part of the answer's content. */
  thought?: boolean
  thoughtSignature?: string
  inlineData?: GeminiBlob
  fileData?: GeminiFileData
  functionCall?: GeminiFunctionCall
  functionResponse?: GeminiFunctionResponse
}

export type GeminiRole = 'user' | 'model'

export interface GeminiContent {
  role: GeminiRole
  parts: GeminiPart[]
}

/** The OpenAPI 3.0 subset Gemini accepts in FunctionDeclaration.parameters; any other key is a 400. */
export interface GeminiSchema {
  type?: 'STRING' | 'NUMBER' | 'INTEGER' | 'BOOLEAN' | 'ARRAY' | 'OBJECT' | 'NULL'
  format?: string
  title?: string
  description?: string
  nullable?: boolean
  enum?: string[]
  maxItems?: number
  minItems?: number
  properties?: Record<string, GeminiSchema>
  required?: string[]
  minProperties?: number
  maxProperties?: number
  minLength?: number
  maxLength?: number
  pattern?: string
  example?: unknown
  anyOf?: GeminiSchema[]
  propertyOrdering?: string[]
  default?: unknown
  items?: GeminiSchema
  minimum?: number
  maximum?: number
}

export interface GeminiFunctionDeclaration {
  name: string
  description?: string
  parameters?: GeminiSchema
  /** Full JSON Schema, for schemas the OpenAPI subset cannot express (mutually exclusive with `parameters`). */
  parametersJsonSchema?: unknown
}

export type GeminiFunctionCallingMode = 'AUTO' | 'ANY' | 'NONE'

export interface GeminiToolConfig {
  functionCallingConfig: { mode: GeminiFunctionCallingMode; allowedFunctionNames?: string[] }
}

export type GeminiThinkingLevel = 'MINIMAL' | 'LOW' | 'MEDIUM' | 'HIGH'

export interface GeminiGenerationConfig {
  stopSequences?: string[]
  responseMimeType?: string
  responseJsonSchema?: unknown
  maxOutputTokens?: number
  temperature?: number
  topP?: number
  seed?: number
  presencePenalty?: number
  frequencyPenalty?: number
  mediaResolution?: 'MEDIA_RESOLUTION_LOW' | 'MEDIA_RESOLUTION_MEDIUM' | 'MEDIA_RESOLUTION_HIGH'
  thinkingConfig?: { thinkingBudget?: number; thinkingLevel?: GeminiThinkingLevel }
}

export interface GeminiGenerateContentRequest {
  contents: GeminiContent[]
  systemInstruction?: { parts: { text: string }[] }
  tools?: { functionDeclarations: GeminiFunctionDeclaration[] }[]
  toolConfig?: GeminiToolConfig
  generationConfig?: GeminiGenerationConfig
}

export interface GeminiUsageMetadata {
  promptTokenCount?: number
  candidatesTokenCount?: number
  totalTokenCount?: number
  cachedContentTokenCount?: number
  thoughtsTokenCount?: number
  toolUsePromptTokenCount?: number
}

export interface GeminiCandidate {
  content?: { role?: string; parts?: GeminiPart[] }
  finishReason?: string
  finishMessage?: string
  index?: number
}

/** One whole response, or one chunk of a stream (each `data:` frame is a complete GenerateContentResponse). */
export interface GeminiGenerateContentResponse {
  candidates?: GeminiCandidate[]
  promptFeedback?: { blockReason?: string; blockReasonMessage?: string }
  usageMetadata?: GeminiUsageMetadata
  modelVersion?: string
  responseId?: string
}

export interface GeminiErrorBody {
  error?: {
    code?: number
    message?: string
    status?: string
    details?: { '@type'?: string; reason?: string; retryDelay?: string; fieldViolations?: { field?: string; description?: string }[] }[]
  }
}
