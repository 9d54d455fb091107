import { z } from 'zod'

/**
 * Data schemas of the data-plane events (DESIGN.md §4), one per type and version, as agreed between the
 * producer, the projections and the analytics sink. Objects are strict: a field nobody agreed on is an error,
 * not silently carried into a balance. Old versions stay here for ever; ./upcasters.ts lifts them.
 */

const tokenCount = z.number().int().min(0)
const microUsd = z.number().int().min(0)
const httpStatus = z.number().int().min(100).max(599)

export const usageSchema = z.strictObject({
  promptTokens: tokenCount,
  completionTokens: tokenCount,
  cachedTokens: tokenCount,
  cacheWriteTokens: tokenCount,
  reasoningTokens: tokenCount,
  estimated: z.boolean(),
})
export type EventUsage = z.infer<typeof usageSchema>

export const endpointSchema = z.enum(['chat.completions', 'embeddings', 'messages'])
const cacheOutcomeSchema = z.enum(['miss', 'exact_hit', 'semantic_hit', 'bypass'])
const outcomeSchema = z.enum(['completed', 'failed', 'client_disconnected'])
const keySourceSchema = z.enum(['gateway', 'byok'])
/** 'provider/model', as clients name models. */
const modelSchema = z.string().regex(/^[a-z0-9-]+\/\S+$/, "a model named 'provider/model'")

export const requestCompletedV1Schema = z.strictObject({
  requestId: z.string().min(1),
  projectId: z.string().min(1).nullable(),
  keyId: z.string().min(1),
  provider: z.string().min(1).nullable(),
  model: modelSchema,
  endpoint: endpointSchema,
  stream: z.boolean(),
  outcome: outcomeSchema,
  httpStatus,
  cacheOutcome: cacheOutcomeSchema,
  usage: usageSchema,
  costMicroUsd: microUsd,
  priceVersion: z.string().min(1),
  latencyMs: z.number().int().min(0),
  timeToFirstTokenMs: z.number().int().min(0).nullable(),
  keySource: keySourceSchema,
  errorCode: z.string().min(1).nullable(),
})
export type RequestCompletedV1 = z.infer<typeof requestCompletedV1Schema>

/**
 * The end user a call was made for, as the client named it (the `x-supergate-user` header, OpenAI's `user`,
 * Anthropic's `metadata.user_id`): an opaque id for chargeback by user, null when the client named none.
 */
export const endUserSchema = z.string().min(1).max(256).nullable()

/** v2 adds `user`, for chargeback by end user. */
export const requestCompletedV2Schema = requestCompletedV1Schema.extend({ user: endUserSchema })
export type RequestCompletedV2 = z.infer<typeof requestCompletedV2Schema>

/**
 * The pre-release shape (version 0): token counts at the top level, no cache/reasoning breakdown, and the
 * cost as a decimal USD string ("0.000123"). Kept so that events spooled or stored by early builds still parse.
 */
export const requestCompletedV0Schema = z.strictObject({
  requestId: z.string().min(1),
  projectId: z.string().min(1).nullable(),
  keyId: z.string().min(1),
  provider: z.string().min(1).nullable(),
  model: modelSchema,
  endpoint: endpointSchema,
  stream: z.boolean(),
  outcome: outcomeSchema,
  httpStatus,
  cacheOutcome: cacheOutcomeSchema,
  promptTokens: tokenCount,
  completionTokens: tokenCount,
  costUsd: z.string().regex(/^\d+(\.\d+)?$/, 'a non-negative decimal USD amount such as "0.000123"'),
  priceVersion: z.string().min(1),
  latencyMs: z.number().int().min(0),
  timeToFirstTokenMs: z.number().int().min(0).nullable(),
  keySource: keySourceSchema,
  errorCode: z.string().min(1).nullable(),
})
export type RequestCompletedV0 = z.infer<typeof requestCompletedV0Schema>

export const cacheHitV1Schema = z.strictObject({
  requestId: z.string().min(1),
  projectId: z.string().min(1).nullable(),
  keyId: z.string().min(1),
  model: modelSchema,
  cacheOutcome: z.enum(['exact_hit', 'semantic_hit']),
  savedMicroUsd: microUsd,
  usage: usageSchema,
})
export type CacheHitV1 = z.infer<typeof cacheHitV1Schema>

export const cacheHitV2Schema = cacheHitV1Schema.extend({ user: endUserSchema })
export type CacheHitV2 = z.infer<typeof cacheHitV2Schema>

export const requestRejectedV1Schema = z.strictObject({
  requestId: z.string().min(1),
  projectId: z.string().min(1).nullable(),
  keyId: z.string().min(1).nullable(),
  model: modelSchema.nullable(),
  endpoint: endpointSchema,
  reason: z.enum(['auth', 'rate_limit', 'budget', 'validation']),
  errorCode: z.string().min(1),
  httpStatus,
})
export type RequestRejectedV1 = z.infer<typeof requestRejectedV1Schema>

export const requestRejectedV2Schema = requestRejectedV1Schema.extend({ user: endUserSchema })
export type RequestRejectedV2 = z.infer<typeof requestRejectedV2Schema>

/**
 * A spend alert fired (projections/alerts): once per rule and period. `id` of its envelope is also the id of
 * the signed webhook's payload, so a receiver and a Kafka consumer dedupe the same alert by the same key.
 */
export const alertTriggeredV1Schema = z.strictObject({
  ruleId: z.string().min(1),
  kind: z.enum(['budget_percent', 'absolute_spend', 'spend_rate']),
  /** 'tenant', 'project:<id>' or 'key:<id>'. */
  scope: z.string().min(1),
  /** The rule's period; a spend-rate rule counts the spend of the current hour. */
  period: z.enum(['day', 'month']),
  /** A percentage for budget_percent rules, micro-USD otherwise. */
  threshold: z.number().int().min(1),
  /** The start of the UTC hour, day or month the alert fired for. */
  periodStart: z.iso.datetime({ offset: true }),
  spentMicroUsd: microUsd,
  /** The budget a budget_percent rule measured against; null for the other kinds. */
  budgetMicroUsd: microUsd.nullable(),
  /** Whether a webhook delivery was queued for it. */
  webhook: z.boolean(),
})
export type AlertTriggeredV1 = z.infer<typeof alertTriggeredV1Schema>
