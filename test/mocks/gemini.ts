import { readFileSync } from 'node:fs'
import { parseSseText } from '../../gateway/providers/sse.ts'
import { CallCounter, scenarioIn } from './mock-server.ts'
import type { MockHandler, MockReply, MockRequest } from './mock-server.ts'

const fixtures = new URL('../../gateway/providers/gemini/fixtures/', import.meta.url)
const fixture = (name: string) => readFileSync(new URL(name, fixtures), 'utf8')
const jsonFixture = (name: string) => JSON.parse(fixture(name)) as Record<string, unknown>

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v)

// ---- Google's error shape -------------------------------------------------------------------------

function googleError(code: number, status: string, message: string, extra: Json = {}, headers?: Record<string, string>): MockReply {
  return { kind: 'json', status: code, body: { error: { code, message, status, ...extra } }, ...(headers === undefined ? {} : { headers }) }
}

interface Violation {
  field: string
  description: string
}

function badRequest(violations: Violation[]): MockReply {
  return googleError(400, 'INVALID_ARGUMENT', violations.map((v) => v.description).join('\n'), {
    details: [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: violations }],
  })
}

// ---- Structural validation: like the real API, any field the proto does not have is a 400 ----------

type Check = (value: unknown, path: string, out: Violation[]) => void

const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
const at = (path: string, key: string) => (path === '' ? snake(key) : `${path}.${snake(key)}`)
const invalid = (path: string, value: unknown, expected: string): Violation => ({
  field: path,
  description: `Invalid value at '${path}' (${expected}), ${JSON.stringify(value)}`,
})

const any: Check = () => {}
const str: Check = (v, p, out) => void (typeof v !== 'string' && out.push(invalid(p, v, 'TYPE_STRING')))
const num: Check = (v, p, out) => void (typeof v !== 'number' && out.push(invalid(p, v, 'TYPE_FLOAT')))
const int: Check = (v, p, out) =>
  void (!(Number.isInteger(v) || (typeof v === 'string' && /^-?\d+$/.test(v))) && out.push(invalid(p, v, 'TYPE_INT32')))
const bool: Check = (v, p, out) => void (typeof v !== 'boolean' && out.push(invalid(p, v, 'TYPE_BOOL')))
const struct: Check = (v, p, out) => void (!isObject(v) && out.push(invalid(p, v, 'type.googleapis.com/google.protobuf.Struct')))
/** Proto enums: the JSON parser takes the value names in either case ("OBJECT", "object"). */
const oneOf =
  (...values: string[]): Check =>
  (v, p, out) =>
    void ((typeof v !== 'string' || !values.includes(v.toUpperCase())) && out.push(invalid(p, v, `one of ${values.join(', ')}`)))
const list =
  (item: Check): Check =>
  (v, p, out) => {
    if (!Array.isArray(v)) return void out.push(invalid(p, v, 'a list'))
    v.forEach((x, i) => item(x, `${p}[${i}]`, out))
  }
function message(fields: Record<string, Check>, required: string[] = []): Check {
  return (v, p, out) => {
    if (!isObject(v)) return void out.push(invalid(p, v, 'an object'))
    for (const [key, value] of Object.entries(v)) {
      const check = fields[key]
      if (check === undefined) {
        out.push({ field: p, description: `Invalid JSON payload received. Unknown name "${key}"${p === '' ? '' : ` at '${p}'`}: Cannot find field.` })
      } else check(value, at(p, key), out)
    }
    for (const key of required) if (!(key in v)) out.push({ field: at(p, key), description: `* ${at(p, key)}: required field is not set` })
  }
}
const map =
  (item: Check): Check =>
  (v, p, out) => {
    if (!isObject(v)) return void out.push(invalid(p, v, 'a map'))
    for (const [k, x] of Object.entries(v)) item(x, `${p}[${JSON.stringify(k)}]`, out)
  }

/** Gemini's Schema (OpenAPI subset): `additionalProperties`, `$ref`, `strict` … are unknown names here. */
const schema: Check = (v, p, out) =>
  message({
    type: oneOf('TYPE_UNSPECIFIED', 'STRING', 'NUMBER', 'INTEGER', 'BOOLEAN', 'ARRAY', 'OBJECT', 'NULL'),
    format: str, title: str, description: str, nullable: bool, enum: list(str), maxItems: int, minItems: int,
    properties: map(schema), required: list(str), minProperties: int, maxProperties: int, minLength: int, maxLength: int,
    pattern: str, example: any, anyOf: list(schema), propertyOrdering: list(str), default: any, items: schema, minimum: num, maximum: num,
  })(v, p, out)

const blob = message({ mimeType: str, data: str }, ['mimeType', 'data'])
const part = message({
  text: str, thought: bool, thoughtSignature: str, inlineData: blob,
  fileData: message({ mimeType: str, fileUri: str, displayName: str }, ['fileUri']),
  functionCall: message({ id: str, name: str, args: struct }, ['name']),
  functionResponse: message({ id: str, name: str, response: struct, willContinue: bool, scheduling: str }, ['name', 'response']),
  executableCode: any, codeExecutionResult: any, videoMetadata: any, mediaResolution: any, partMetadata: struct,
})
// `role` is a plain string in the proto; the API checks its value itself ("Please use a valid role").
const content = message({ role: str, parts: list(part) }, ['parts'])
const declaration = message(
  { name: str, description: str, parameters: schema, parametersJsonSchema: any, response: schema, responseJsonSchema: any, behavior: str },
  ['name'],
)
const request = message({
  model: str, contents: list(content), systemInstruction: content, cachedContent: str, safetySettings: list(any),
  tools: list(message({ functionDeclarations: list(declaration), googleSearch: any, codeExecution: any, urlContext: any, fileSearch: any, googleMaps: any })),
  toolConfig: message({ functionCallingConfig: message({ mode: oneOf('MODE_UNSPECIFIED', 'AUTO', 'ANY', 'NONE', 'VALIDATED'), allowedFunctionNames: list(str) }) }),
  generationConfig: message({
    stopSequences: list(str), responseMimeType: oneOf('TEXT/PLAIN', 'APPLICATION/JSON', 'TEXT/X.ENUM'), responseSchema: schema, responseJsonSchema: any,
    responseModalities: list(oneOf('TEXT', 'IMAGE', 'AUDIO')), candidateCount: int, maxOutputTokens: int, temperature: num, topP: num, topK: int,
    seed: int, presencePenalty: num, frequencyPenalty: num, responseLogprobs: bool, logprobs: int, enableEnhancedCivicAnswers: bool,
    mediaResolution: oneOf('MEDIA_RESOLUTION_UNSPECIFIED', 'MEDIA_RESOLUTION_LOW', 'MEDIA_RESOLUTION_MEDIUM', 'MEDIA_RESOLUTION_HIGH'),
    thinkingConfig: message({ includeThoughts: bool, thinkingBudget: int, thinkingLevel: oneOf('MINIMAL', 'LOW', 'MEDIUM', 'HIGH') }),
    speechConfig: any, imageConfig: any,
  }),
})

// ---- Semantic rules the real API enforces beyond field names ------------------------------------

const DATA_FIELDS = ['text', 'inlineData', 'fileData', 'functionCall', 'functionResponse', 'executableCode', 'codeExecutionResult']

function semantics(body: Json): Violation[] {
  const out: Violation[] = []
  const rule = (field: string, description: string) => out.push({ field, description: `* GenerateContentRequest.${field}: ${description}` })
  const contents = Array.isArray(body.contents) ? (body.contents as Json[]) : []
  if (contents.length === 0) rule('contents', 'contents is not specified')
  contents.forEach((c, i) => {
    const parts = Array.isArray(c.parts) ? (c.parts as Json[]) : []
    if (parts.length === 0) rule(`contents[${i}].parts`, 'contents.parts must not be empty.')
    parts.forEach((p, j) => {
      if (DATA_FIELDS.filter((f) => f in p).length !== 1) rule(`contents[${i}].parts[${j}].data`, 'required oneof field \'data\' must have one initialized field')
      if (p.text === '') rule(`contents[${i}].parts[${j}].text`, 'Unable to submit request because it has an empty text parameter.')
      const inline = p.inlineData as Json | undefined
      if (typeof inline?.data === 'string' && !/^[A-Za-z0-9+/_-]*={0,2}$/.test(inline.data)) rule(`contents[${i}].parts[${j}].inline_data.data`, 'Base64 decoding failed')
    })
  })
  for (const [i, tool] of ((body.tools as Json[] | undefined) ?? []).entries()) {
    for (const [j, d] of ((tool.functionDeclarations as Json[] | undefined) ?? []).entries()) {
      const path = `tools[${i}].function_declarations[${j}]`
      if (typeof d.name === 'string' && !/^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/.test(d.name)) rule(`${path}.name`, 'Invalid function name.')
      if ('parameters' in d && 'parametersJsonSchema' in d) rule(path, 'parameters and parameters_json_schema are mutually exclusive')
      const emptyObject = (s: unknown, p: string): void => {
        if (!isObject(s)) return
        if (String(s.type).toUpperCase() === 'OBJECT' && (!isObject(s.properties) || Object.keys(s.properties).length === 0)) rule(`${p}.properties`, 'should be non-empty for OBJECT type')
        if (isObject(s.properties)) for (const [k, sub] of Object.entries(s.properties)) emptyObject(sub, `${p}.properties[${k}]`)
        if (isObject(s.items)) emptyObject(s.items, `${p}.items`)
      }
      emptyObject(d.parameters, `${path}.parameters`)
    }
  }
  const calling = (body.toolConfig as { functionCallingConfig?: Json } | undefined)?.functionCallingConfig
  if (calling?.allowedFunctionNames !== undefined && !['ANY', 'VALIDATED'].includes(String(calling.mode).toUpperCase())) {
    rule('tool_config.function_calling_config.allowed_function_names', 'allowed_function_names should only be set when mode is ANY')
  }
  const config = (body.generationConfig ?? {}) as Json
  if ('responseSchema' in config && 'responseJsonSchema' in config) rule('generation_config', 'response_schema and response_json_schema are mutually exclusive')
  if (('responseSchema' in config || 'responseJsonSchema' in config) && String(config.responseMimeType).toLowerCase() !== 'application/json') {
    rule('generation_config.response_mime_type', 'a response schema requires response_mime_type application/json')
  }
  const thinking = (config.thinkingConfig ?? {}) as Json
  if ('thinkingBudget' in thinking && 'thinkingLevel' in thinking) rule('generation_config.thinking_config', 'thinking_budget and thinking_level cannot both be set')
  return out
}

// ---- Scenarios ----------------------------------------------------------------------------------

function failure(scenario: string, counter: CallCounter, marker: string): MockReply | undefined {
  const replay = (status: number, name: string, headers?: Record<string, string>): MockReply => ({ kind: 'json', status, body: jsonFixture(name), ...(headers === undefined ? {} : { headers }) })
  switch (scenario) {
    case 'error_400':
      return replay(400, 'error-400.json')
    case 'error_401':
      // What Gemini really answers for a wrong key: 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
      return replay(400, 'error-api-key-invalid.json')
    case 'error_429': {
      const body = jsonFixture('error-429.json') as { error: { details: Json[] } }
      body.error.details = body.error.details.map((d) => ('retryDelay' in d ? { ...d, retryDelay: '1s' } : d))
      return { kind: 'json', status: 429, body, headers: { 'retry-after': '1' } }
    }
    case 'error_500':
      return replay(500, 'error-500.json')
    case 'overloaded':
      return replay(503, 'error-503.json')
    case 'flaky':
      // Fails twice for each distinct prompt, then answers: retries must get through.
      return counter.next(marker) <= 2 ? replay(500, 'error-500.json') : undefined
    case 'slow':
      return { kind: 'delay', ms: 5_000, then: replay(500, 'error-500.json') }
    case 'reset':
      return { kind: 'reset' }
    case 'malformed':
      return { kind: 'text', status: 200, body: '{"candidates": [{"content": {"parts": [{"text": "Hel', headers: { 'content-type': 'application/json' } }
    default:
      return undefined
  }
}

/** Gemini writes each chunk as one `data:` line ended by CRLF CRLF, with the model's own version name. */
function streamFrames(name: string, model: string): string[] {
  return parseSseText(fixture(name)).map((event) => `data: ${JSON.stringify({ ...(JSON.parse(event.data) as Json), modelVersion: model })}\r\n\r\n`)
}

function lastUserText(contents: Json[]): string {
  const last = [...contents].reverse().find((c) => c.role !== 'model' && (c.parts as Json[]).some((p) => typeof p.text === 'string'))
  return ((last?.parts as Json[] | undefined) ?? []).map((p) => (typeof p.text === 'string' ? p.text : '')).join('')
}

const PATH = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent|batchEmbedContents)$/

/** A mock of the Gemini API (Generative Language API v1beta): generateContent, streamGenerateContent, batchEmbedContents. */
export function geminiMock(): MockHandler {
  const counter = new CallCounter()
  return (req: MockRequest): MockReply => {
    if ((req.headers['x-goog-api-key'] ?? '') === '') {
      return googleError(403, 'PERMISSION_DENIED', "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
    }
    const route = PATH.exec(req.path)
    if (req.method !== 'POST' || route === null) return googleError(404, 'NOT_FOUND', `The requested URL ${req.path} was not found on this server.`)
    const [, model, method] = route as unknown as [string, string, string]
    if ((method === 'batchEmbedContents') !== model.includes('embedding')) {
      return googleError(404, 'NOT_FOUND', `models/${model} is not found for API version v1beta, or is not supported for ${method}. Call ListModels to see the list of available models and their supported methods.`)
    }
    if (!isObject(req.body)) return googleError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received. Expected an object.')

    if (method === 'batchEmbedContents') {
      const violations: Violation[] = []
      const embedRequest = message({ model: str, content, taskType: str, title: str, outputDimensionality: int }, ['model', 'content'])
      message({ requests: list(embedRequest) }, ['requests'])(req.body, '', violations)
      const requests = (Array.isArray(req.body.requests) ? req.body.requests : []) as Json[]
      requests.forEach((r, i) => {
        if (r.model !== `models/${model}`) violations.push({ field: `requests[${i}].model`, description: `* BatchEmbedContentsRequest.requests[${i}].model: unexpected model name format` })
      })
      if (violations.length > 0) return badRequest(violations)
      const first = lastUserText(requests.slice(0, 1).map((r) => r.content as Json))
      const failed = failure(scenarioIn(first), counter, first)
      if (failed !== undefined) return failed
      return {
        kind: 'json',
        status: 200,
        body: { embeddings: requests.map((r, i) => ({ values: Array.from({ length: Number(r.outputDimensionality ?? 3) }, (_, k) => (k === 0 ? 0.25 * (i + 1) : -0.5 / (k + 1))) })) },
      }
    }

    const violations: Violation[] = []
    request(req.body, '', violations)
    if (violations.length === 0) violations.push(...semantics(req.body))
    if (violations.length > 0) return badRequest(violations)
    const contents = req.body.contents as Json[]
    if (contents.some((c) => 'role' in c && !['user', 'model'].includes(String(c.role)))) {
      return googleError(400, 'INVALID_ARGUMENT', 'Please use a valid role: user, model.')
    }
    const text = lastUserText(contents)
    const scenario = scenarioIn(text)
    const failed = failure(scenario, counter, text)
    if (failed !== undefined) return failed
    const toolCall = scenario === 'tool_call'
    if (method === 'streamGenerateContent') {
      if (req.query.get('alt') !== 'sse') return googleError(400, 'INVALID_ARGUMENT', 'This mock streams only as server-sent events: add alt=sse.')
      const frames = streamFrames(toolCall ? 'stream-tool-calls.sse' : 'stream.sse', model)
      if (scenario === 'drop') return { kind: 'sse', frames, dropAfter: 2 }
      if (scenario === 'truncated') return { kind: 'sse', frames: frames.slice(0, -1) }
      if (scenario === 'slow_stream') return { kind: 'sse', frames, frameDelayMs: 300 }
      return { kind: 'sse', frames }
    }
    return { kind: 'json', status: 200, body: { ...jsonFixture(toolCall ? 'generate-content-tool-calls.json' : 'generate-content.json'), modelVersion: model } }
  }
}
