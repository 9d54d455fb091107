-- Settlement of one admission (gateway/limits/admission.ts), in one round trip, at most once per id.
-- KEYS: the id's settled marker; each bucket; each concurrency set; per budget its counter, reservations and
-- leases (as in admission.lua).
-- ARGV: id, marker ms, bucket count, concurrency count, budget count; per bucket capacity, refill per second,
-- delta; per budget actual micro-USD, ttl seconds.
-- Returns 1 when applied, 0 when the id was already settled (nothing changes).
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[2]) then return 0 end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local id = ARGV[1]
local key, arg = 2, 6

for _ = 1, tonumber(ARGV[3]) do
  local capacity, rate, delta = tonumber(ARGV[arg]), tonumber(ARGV[arg + 1]), tonumber(ARGV[arg + 2])
  local state = redis.call('HMGET', KEYS[key], 't', 'u')
  local level = tonumber(state[1])
  if level == nil then
    level = capacity
  else
    level = math.min(capacity, level + math.max(0, now - tonumber(state[2])) * rate / 1000)
  end
  -- Not floored at zero: a call that used more than its estimate leaves a debt the next calls wait out, and
  -- the bucket lives until it is full again, debt included.
  level = math.min(capacity, level + delta)
  redis.call('HSET', KEYS[key], 't', tostring(level), 'u', now)
  redis.call('PEXPIRE', KEYS[key], math.ceil((capacity - level) * 1000 / rate) + 1000)
  key, arg = key + 1, arg + 3
end

for _ = 1, tonumber(ARGV[4]) do
  redis.call('ZREM', KEYS[key], id)
  key = key + 1
end

for _ = 1, tonumber(ARGV[5]) do
  local counter, reservations, leases = KEYS[key], KEYS[key + 1], KEYS[key + 2]
  local actual, ttl = ARGV[arg], tonumber(ARGV[arg + 1])
  key, arg = key + 3, arg + 2
  -- The reservation is gone already if its lease ran out and an admission dropped it; the cost still counts.
  local amount = tonumber(redis.call('HGET', reservations, id))
  if amount then redis.call('HDEL', reservations, id) end
  redis.call('ZREM', leases, id)
  -- A lost counter is not recreated from this one cost, which would undercount its period: the next admission
  -- seeds it from the spend projection.
  if redis.call('EXISTS', counter) == 1 then
    redis.call('HINCRBY', counter, 'spent', actual)
    if redis.call('HLEN', reservations) == 0 then
      redis.call('HSET', counter, 'reserved', 0)
    elseif amount then
      redis.call('HINCRBY', counter, 'reserved', -amount)
    end
    redis.call('EXPIRE', counter, ttl)
  end
end
return 1
