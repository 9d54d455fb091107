/**
 * Deciders (after Emmett): business rules as pure functions. `decide` turns a command and the current
 * state into new events, or throws a DomainError; `evolve` folds an event into the state.
 */
export interface Decider<Command, Event extends { type: string; data: unknown }, State> {
  initialState(): State
  evolve(state: State, event: Event): State
  decide(command: Command, state: State): Event[]
}

export type DomainErrorKind = 'invalid' | 'not_found' | 'conflict'

export class DomainError extends Error {
  readonly kind: DomainErrorKind
  readonly param: string | null

  constructor(kind: DomainErrorKind, message: string, param: string | null = null) {
    super(message)
    this.name = 'DomainError'
    this.kind = kind
    this.param = param
  }
}

export function fold<C, E extends { type: string; data: unknown }, S>(decider: Decider<C, E, S>, events: readonly E[]): S {
  return events.reduce((state, event) => decider.evolve(state, event), decider.initialState())
}
