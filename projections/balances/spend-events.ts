import { z } from 'zod'
import { InvalidEventError, parseEvent } from '../../events/catalogue/registry.ts'
import type { Envelope } from '../../events/envelope.ts'
import { InvalidEventDataError } from '../runner/projection-runner.ts'

const microUsd = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)

/** What the balance and budget projections read of a `request.completed`. */
export interface RequestSpend {
  projectId: string | null
  keyId: string
  costMicroUsd: number
}

const creditsGrantedSchema = z.object({
  tenantId: z.string().min(1).optional(),
  amountMicroUsd: microUsd,
})

function parseOrThrow<T>(schema: z.ZodType<T>, envelope: Envelope): T {
  const parsed = schema.safeParse(envelope.data)
  if (!parsed.success) {
    throw new InvalidEventDataError(parsed.error.issues.map((i) => `${i.path.join('.') || '(data)'}: ${i.message}`).join('; '))
  }
  return parsed.data
}

/**
 * Any version of `request.completed`, validated by the event catalogue and upcast to the current one (a v0
 * cost in decimal USD becomes integer micro-USD there, exactly).
 */
export function parseRequestSpend(envelope: Envelope): RequestSpend {
  try {
    const event = parseEvent(envelope)
    if (event.type !== 'request.completed') throw new InvalidEventDataError(`${event.type} is not request.completed`)
    return { projectId: event.data.projectId, keyId: event.data.keyId, costMicroUsd: event.data.costMicroUsd }
  } catch (error) {
    if (error instanceof InvalidEventError) throw new InvalidEventDataError(error.message)
    throw error
  }
}

export function parseCreditGrant(envelope: Envelope): { amountMicroUsd: number } {
  const data = parseOrThrow(creditsGrantedSchema, envelope)
  // The envelope's tenant is the message key; a grant naming another tenant is not to be trusted.
  if (data.tenantId !== undefined && data.tenantId !== envelope.tenantId) {
    throw new InvalidEventDataError(`data.tenantId ${data.tenantId} differs from the envelope's ${envelope.tenantId}`)
  }
  return { amountMicroUsd: data.amountMicroUsd }
}
