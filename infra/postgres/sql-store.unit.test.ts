import { describe, expect, it } from 'vitest'
import { asUnavailable, SqlUnavailableError } from './sql-store.ts'

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code })

describe('which database errors mean "unavailable"', () => {
  it.each([
    withCode('connect ECONNREFUSED 127.0.0.1:54329', 'ECONNREFUSED'),
    withCode('terminating connection due to administrator command', '57P01'),
    withCode('the database system is starting up', '57P03'),
    withCode('connection failure', '08006'),
    new Error('Connection terminated unexpectedly'),
    new Error('timeout exceeded when trying to connect'),
  ])('%s → unavailable (503)', (error) => {
    expect(asUnavailable(error)).toBeInstanceOf(SqlUnavailableError)
  })

  it.each([
    withCode('duplicate key value violates unique constraint', '23505'),
    withCode('syntax error at or near "SELEC"', '42601'),
    new Error('something else'),
  ])('%s stays as it is', (error) => {
    expect(asUnavailable(error)).toBe(error)
  })
})
