import { z } from 'zod'

/**
 * The envelope every event travels in on Kafka (DESIGN.md §4). `id` (UUIDv7) is the idempotency key end
 * to end; `tenantId` is the Kafka message key.
 */
export const actorSchema = z
  .object({
    /** `admin`: the bootstrap admin token; `key`: an API key; `system`: the gateway itself. */
    type: z.enum(['admin', 'key', 'system']),
    id: z.string().min(1),
  })
  .strict()
export type Actor = z.infer<typeof actorSchema>

export const envelopeSchema = z
  .object({
    id: z.uuid(),
    type: z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, 'a past-tense dotted name such as tenant.created'),
    // 0 is the pre-release shape of the first data-plane events, still readable through its upcaster.
    version: z.number().int().min(0),
    tenantId: z.string().min(1),
    occurredAt: z.iso.datetime({ offset: true }),
    correlationId: z.string().min(1).nullable(),
    causationId: z.string().min(1).nullable(),
    actor: actorSchema,
    data: z.record(z.string(), z.unknown()),
  })
  .strict()
export type Envelope = z.infer<typeof envelopeSchema>

/**
 * Envelopes built from validated parts (the catalogue's buildEvent): the publisher need not parse them again,
 * which would be a second zod pass per metered request. Anything else it is handed is still parsed.
 */
const validated = new WeakSet<Envelope>()

export function markValidated<E extends Envelope>(envelope: E): E {
  validated.add(envelope)
  return envelope
}

export function isValidated(envelope: Envelope): boolean {
  return validated.has(envelope)
}

/**
 * What every control-plane event stores as metadata in the event store: who did it, from where, why.
 * The relay to Kafka and the audit trail read these fields.
 */
export const controlMetadataSchema = z
  .object({
    tenantId: z.string().min(1),
    actor: actorSchema,
    sourceIp: z.string().nullable(),
    userAgent: z.string().nullable(),
    reason: z.string().max(1000).nullable(),
    correlationId: z.string().nullable(),
    occurredAt: z.iso.datetime({ offset: true }),
    /** Schema version of the event's data. */
    version: z.number().int().min(1),
  })
  .strict()
export type ControlMetadata = z.infer<typeof controlMetadataSchema>

export const CONTROL_TOPIC = 'supergate.control.v1'
