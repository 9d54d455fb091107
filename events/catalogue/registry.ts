import { z } from 'zod'
import { actorSchema, envelopeSchema, markValidated } from '../envelope.ts'
import type { Actor, Envelope } from '../envelope.ts'
import { uuidv7 } from '../ids.ts'
import {
  alertTriggeredV1Schema,
  cacheHitV1Schema,
  cacheHitV2Schema,
  requestCompletedV0Schema,
  requestCompletedV1Schema,
  requestCompletedV2Schema,
  requestRejectedV1Schema,
  requestRejectedV2Schema,
} from './schemas.ts'
import type { AlertTriggeredV1, CacheHitV1, CacheHitV2, RequestCompletedV0, RequestCompletedV1, RequestCompletedV2, RequestRejectedV1, RequestRejectedV2 } from './schemas.ts'
import { requestCompletedV0ToV1, withNoUser } from './upcasters.ts'

/** The current data of each data-plane event type: what consumers see after upcasting. */
export interface DataPlaneEvents {
  'request.completed': RequestCompletedV2
  'cache.hit': CacheHitV2
  'request.rejected': RequestRejectedV2
  'alert.triggered': AlertTriggeredV1
}
export type DataPlaneEventType = keyof DataPlaneEvents

/** An envelope whose data is the current version of its type. */
export type DataPlaneEvent = {
  [T in DataPlaneEventType]: Omit<Envelope, 'type' | 'data'> & { type: T; data: DataPlaneEvents[T] }
}[DataPlaneEventType]

interface VersionEntry<T extends DataPlaneEventType> {
  schema: z.ZodType
  /** Lifts this version's parsed data to the current version (through every version between); absent on the current version. */
  upcast?: (data: never) => DataPlaneEvents[T]
}

/**
 * Every version of every type. The highest version is current: buildEvent writes it and parseEvent upcasts
 * older ones to it. Adding a version means a schema, an upcaster from the previous current one, and a test.
 */
const CATALOGUE: { [T in DataPlaneEventType]: { current: number; versions: Record<number, VersionEntry<T>> } } = {
  'request.completed': {
    current: 2,
    versions: {
      0: { schema: requestCompletedV0Schema, upcast: (v0: RequestCompletedV0) => withNoUser(requestCompletedV0ToV1(v0)) },
      1: { schema: requestCompletedV1Schema, upcast: (v1: RequestCompletedV1) => withNoUser(v1) },
      2: { schema: requestCompletedV2Schema },
    },
  },
  'cache.hit': {
    current: 2,
    versions: { 1: { schema: cacheHitV1Schema, upcast: (v1: CacheHitV1) => withNoUser(v1) }, 2: { schema: cacheHitV2Schema } },
  },
  'request.rejected': {
    current: 2,
    versions: { 1: { schema: requestRejectedV1Schema, upcast: (v1: RequestRejectedV1) => withNoUser(v1) }, 2: { schema: requestRejectedV2Schema } },
  },
  'alert.triggered': { current: 1, versions: { 1: { schema: alertTriggeredV1Schema } } },
}

export const CURRENT_VERSIONS: { readonly [T in DataPlaneEventType]: number } = {
  'request.completed': CATALOGUE['request.completed'].current,
  'cache.hit': CATALOGUE['cache.hit'].current,
  'request.rejected': CATALOGUE['request.rejected'].current,
  'alert.triggered': CATALOGUE['alert.triggered'].current,
}

export class InvalidEventError extends Error {
  readonly code = 'invalid_event'
  constructor(message: string) {
    super(message)
    this.name = 'InvalidEventError'
  }
}

/**
 * envelope.ts requires version ≥ 1; request.completed had a version 0 before the envelope settled, so the
 * catalogue accepts 0 here and then insists the (type, version) pair is one it knows.
 */
const incomingEnvelopeSchema = envelopeSchema.extend({ version: z.number().int().min(0) })

/**
 * An event of a known type at a version newer than this build knows: written by a newer Supergate during a
 * rolling upgrade. Not an InvalidEventError: a consumer must not park it (it is money a newer build can
 * read) but fail the batch, so that the log holds it until this process is upgraded.
 */
export class NewerEventVersionError extends Error {
  readonly code = 'newer_event_version'
  constructor(message: string) {
    super(message)
    this.name = 'NewerEventVersionError'
  }
}

function isKnownType(type: string): type is DataPlaneEventType {
  return Object.hasOwn(CATALOGUE, type)
}

/**
 * Validates an envelope and its data by (type, version) and returns it at the current version of its type.
 * Throws InvalidEventError saying which event and which field; a consumer should park such a message
 * rather than skip it, since it may be money.
 */
export function parseEvent(input: unknown): DataPlaneEvent {
  const envelope = incomingEnvelopeSchema.safeParse(input)
  if (!envelope.success) throw new InvalidEventError(`Invalid event envelope:\n${z.prettifyError(envelope.error)}`)
  const { type, version, data } = envelope.data
  if (!isKnownType(type)) throw new InvalidEventError(`Unknown data-plane event type "${type}"`)
  const entry: VersionEntry<typeof type> | undefined = CATALOGUE[type].versions[version]
  if (entry === undefined && version > CATALOGUE[type].current) {
    throw new NewerEventVersionError(`${type} v${version} (event ${envelope.data.id}) is newer than this build reads (up to v${CATALOGUE[type].current}): upgrade this process`)
  }
  if (entry === undefined) {
    throw new InvalidEventError(`Unknown version ${version} of ${type} (known: ${Object.keys(CATALOGUE[type].versions).join(', ')})`)
  }
  const parsed = entry.schema.safeParse(data)
  if (!parsed.success) throw new InvalidEventError(`Invalid ${type} v${version} data (event ${envelope.data.id}):\n${z.prettifyError(parsed.error)}`)
  let current: unknown
  try {
    current = entry.upcast === undefined ? parsed.data : entry.upcast(parsed.data as never)
  } catch (error) {
    throw new InvalidEventError(`Cannot upcast ${type} v${version} (event ${envelope.data.id}): ${(error as Error).message}`)
  }
  return { ...envelope.data, version: CATALOGUE[type].current, data: current } as DataPlaneEvent
}

export const eventMetaSchema = z.strictObject({
  tenantId: z.string().min(1),
  /** The request id. */
  correlationId: z.string().min(1).nullable(),
  causationId: z.string().min(1).nullable().default(null),
  actor: actorSchema,
  occurredAt: z.iso.datetime({ offset: true }).optional(),
})
export interface EventMeta {
  tenantId: string
  correlationId: string | null
  causationId?: string | null
  actor: Actor
  /** Defaults to now. */
  occurredAt?: string
}

/** Builds a validated envelope at the current version of `type`, with a fresh UUIDv7 id. */
export function buildEvent<T extends DataPlaneEventType>(
  type: T,
  data: DataPlaneEvents[T],
  meta: EventMeta,
  now: Date = new Date(),
): Extract<DataPlaneEvent, { type: T }> {
  const { current, versions } = CATALOGUE[type]
  const parsedData = versions[current]!.schema.safeParse(data)
  if (!parsedData.success) throw new InvalidEventError(`Invalid ${type} v${current} data:\n${z.prettifyError(parsedData.error)}`)
  const parsedMeta = eventMetaSchema.safeParse(meta)
  if (!parsedMeta.success) throw new InvalidEventError(`Invalid ${type} metadata:\n${z.prettifyError(parsedMeta.error)}`)
  // Every field is validated above or made here (id, type, version), so the envelope is built, not parsed again:
  // this runs once per request. The id is made here, the type and version come from the catalogue, and the
  // envelope is marked so the publisher does not parse it again.
  const envelope: Envelope = {
    id: uuidv7(now.getTime()),
    type,
    version: current,
    tenantId: parsedMeta.data.tenantId,
    occurredAt: parsedMeta.data.occurredAt ?? now.toISOString(),
    correlationId: parsedMeta.data.correlationId,
    causationId: parsedMeta.data.causationId,
    actor: parsedMeta.data.actor,
    data: parsedData.data as Record<string, unknown>,
  }
  return markValidated(envelope) as Extract<DataPlaneEvent, { type: T }>
}
