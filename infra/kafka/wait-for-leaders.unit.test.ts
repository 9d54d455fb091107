import type { Admin } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { waitForLeaders } from './kafka-event-log.ts'

/** An admin client whose metadata answers are scripted, as a KRaft broker gives them right after createTopics. */
function scripted(answers: (Error | { leader: number }[])[], offsets: (Error | 'ok')[] = ['ok']): Admin {
  let call = 0
  let offsetCall = 0
  return {
    fetchTopicMetadata: () => {
      const answer = answers[Math.min(call++, answers.length - 1)]!
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve({ topics: [{ name: 't', partitions: answer.map((p, i) => ({ partitionId: i, ...p })) }] })
    },
    fetchTopicOffsets: () => {
      const answer = offsets[Math.min(offsetCall++, offsets.length - 1)]!
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve([])
    },
  } as unknown as Admin
}

const kafkaError = (type: string) => Object.assign(new Error(type), { type })

describe('waiting for a new topic’s leaders', () => {
  it('waits through UNKNOWN_TOPIC_OR_PARTITION and leaderless partitions, which kafkajs gives up on', async () => {
    const admin = scripted([kafkaError('UNKNOWN_TOPIC_OR_PARTITION'), [{ leader: -1 }, { leader: 1 }], [{ leader: 1 }, { leader: 1 }]])
    await expect(waitForLeaders(admin, ['t'], 5_000)).resolves.toBeUndefined()
  })

  it('waits until the leaders answer for their partitions, through NOT_LEADER_FOR_PARTITION', async () => {
    const admin = scripted([[{ leader: 1 }]], [kafkaError('NOT_LEADER_FOR_PARTITION'), kafkaError('NOT_LEADER_FOR_PARTITION'), 'ok'])
    await expect(waitForLeaders(admin, ['t'], 5_000)).resolves.toBeUndefined()
  })

  it('passes any other error on, and gives up after its timeout', async () => {
    await expect(waitForLeaders(scripted([kafkaError('TOPIC_AUTHORIZATION_FAILED')]), ['t'], 5_000)).rejects.toThrow('TOPIC_AUTHORIZATION_FAILED')
    await expect(waitForLeaders(scripted([[{ leader: -1 }]]), ['t'], 300)).rejects.toThrow('have no leader 300 ms after they were created')
  })
})
