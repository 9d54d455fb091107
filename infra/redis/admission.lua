-- Admission (gateway/limits/admission.ts): token buckets, concurrency slots and budget reservations checked and
-- taken in one round trip, all or nothing (gateway/limits/admission-rules.ts has the same rules in TypeScript).
-- KEYS: each bucket; each concurrency set (admission id scored by lease expiry ms); per budget its counter
-- (hash: spent, reserved), its reservations (hash: id -> micro-USD) and its leases (id scored by expiry ms).
-- ARGV: id, lease ms, bucket count, concurrency count, budget count; per bucket capacity, refill per second,
-- cost; per concurrency set its limit; per budget limit, reserve, seed ('' when none), ttl seconds.
-- Returns { outcome, retry-after ms (-1: none), denied position in its group (0: none), { bucket levels },
-- { spent, reserved per budget }, { 1 per budget whose counter needs a seed, else 0 } }.
-- Outcomes: 0 admitted, 1 needs_seed, 2 rate_limit, 3 concurrency, 4 budget.
-- Time comes from the Redis server, so every gateway process sees one clock.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local id = ARGV[1]
local lease_ms = tonumber(ARGV[2])
local key, arg = 1, 6

-- Sets a key's expiry to at least ms from now, never shortening a longer one.
local function expire_at_least(k, ms)
  if redis.call('PTTL', k) < ms then redis.call('PEXPIRE', k, ms) end
end

-- Buckets, refilled to now (the rules of token-bucket.lua).
local buckets = {}
local rate_denied, rate_retry = 0, 0
for i = 1, tonumber(ARGV[3]) do
  local b = { key = KEYS[key], capacity = tonumber(ARGV[arg]), rate = tonumber(ARGV[arg + 1]), cost = tonumber(ARGV[arg + 2]) }
  key, arg = key + 1, arg + 3
  local state = redis.call('HMGET', b.key, 't', 'u')
  b.level = tonumber(state[1])
  if b.level == nil then
    b.level = b.capacity
  else
    b.level = math.min(b.capacity, b.level + math.max(0, now - tonumber(state[2])) * b.rate / 1000)
  end
  if b.cost > b.level then
    if rate_denied == 0 then rate_denied = i end
    if b.cost > b.capacity then
      rate_retry = -1
    elseif rate_retry ~= -1 then
      rate_retry = math.max(rate_retry, math.ceil((b.cost - b.level) * 1000 / b.rate))
    end
  end
  buckets[i] = b
end

-- Concurrency: a slot whose lease ran out belongs to a gateway that never settled; it stops counting.
local sets = {}
local busy = 0
for i = 1, tonumber(ARGV[4]) do
  local set = KEYS[key]
  local limit = tonumber(ARGV[arg])
  key, arg = key + 1, arg + 1
  redis.call('ZREMRANGEBYSCORE', set, '-inf', now)
  if busy == 0 and redis.call('ZCARD', set) >= limit then busy = i end
  sets[i] = set
end

-- Budgets. The counter keeps the sum of the live reservations in 'reserved', kept equal to the sum of the
-- reservations hash by every script that changes either.
local budgets = {}
local needs_seed = {}
local any_seed_needed = false
local over = 0
for i = 1, tonumber(ARGV[5]) do
  local g = {
    counter = KEYS[key], reservations = KEYS[key + 1], leases = KEYS[key + 2],
    limit = tonumber(ARGV[arg]), reserve = tonumber(ARGV[arg + 1]), seed = ARGV[arg + 2], ttl = tonumber(ARGV[arg + 3]),
  }
  key, arg = key + 3, arg + 4
  local released = 0
  local expired = redis.call('ZRANGEBYSCORE', g.leases, '-inf', now)
  for _, rid in ipairs(expired) do
    released = released + (tonumber(redis.call('HGET', g.reservations, rid)) or 0)
    redis.call('HDEL', g.reservations, rid)
  end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', g.leases, '-inf', now) end
  local state = redis.call('HMGET', g.counter, 'spent', 'reserved')
  g.spent = tonumber(state[1])
  needs_seed[i] = 0
  if g.spent == nil then
    -- No counter (first use in its period, or Redis lost it): its reservations may still be alive.
    g.reserved = 0
    for _, amount in ipairs(redis.call('HVALS', g.reservations)) do g.reserved = g.reserved + tonumber(amount) end
    if g.seed == '' then
      needs_seed[i] = 1
      any_seed_needed = true
      g.spent = 0
    else
      -- Created even if this call is then denied: the seed is the projection's figure either way, and the
      -- caller need not read the projection again.
      g.spent = tonumber(g.seed)
      redis.call('HSET', g.counter, 'spent', g.seed, 'reserved', g.reserved)
      redis.call('EXPIRE', g.counter, g.ttl)
    end
  else
    g.reserved = (tonumber(state[2]) or 0) - released
    -- The reservations hash expired on its own (a counter refreshed only by settles): nothing is reserved.
    if g.reserved ~= 0 and redis.call('HLEN', g.reservations) == 0 then g.reserved = 0 end
    if g.reserved ~= tonumber(state[2]) then redis.call('HSET', g.counter, 'reserved', g.reserved) end
  end
  if over == 0 and g.spent + g.reserved + g.reserve > g.limit then over = i end
  budgets[i] = g
end

-- The first check that failed, in this order: a counter to seed, rate, concurrency, budget.
local outcome, retry, denied = 0, 0, 0
if any_seed_needed then
  outcome, retry = 1, -1
elseif rate_denied > 0 then
  outcome, retry, denied = 2, rate_retry, rate_denied
elseif busy > 0 then
  -- No retry delay: when a call in flight ends is unknown (its lease only bounds a gateway that died).
  outcome, retry, denied = 3, -1, busy
elseif over > 0 then
  outcome, retry, denied = 4, -1, over
end

if outcome == 0 then
  for _, b in ipairs(buckets) do
    b.level = math.min(b.capacity, b.level - b.cost)
    redis.call('HSET', b.key, 't', tostring(b.level), 'u', now)
    redis.call('PEXPIRE', b.key, math.ceil((b.capacity - b.level) * 1000 / b.rate) + 1000)
  end
  local lease_end = now + lease_ms
  for _, set in ipairs(sets) do
    redis.call('ZADD', set, lease_end, id)
    expire_at_least(set, lease_ms)
  end
  for _, g in ipairs(budgets) do
    -- An id admitted twice holds one reservation, so 'reserved' stays the sum of the hash.
    local previous = tonumber(redis.call('HGET', g.reservations, id)) or 0
    redis.call('HSET', g.reservations, id, g.reserve)
    redis.call('ZADD', g.leases, lease_end, id)
    g.reserved = g.reserved - previous + g.reserve
    redis.call('HSET', g.counter, 'reserved', g.reserved)
    redis.call('EXPIRE', g.counter, g.ttl)
    expire_at_least(g.reservations, math.max(g.ttl * 1000, lease_ms))
    expire_at_least(g.leases, math.max(g.ttl * 1000, lease_ms))
  end
end

-- Redis truncates Lua numbers to integers on return, so bucket levels travel as strings; micro-USD amounts
-- are integers already.
local levels = {}
for i, b in ipairs(buckets) do levels[i] = tostring(b.level) end
local states = {}
for _, g in ipairs(budgets) do
  states[#states + 1] = g.spent
  states[#states + 1] = g.reserved
end
return { outcome, retry, denied, levels, states, needs_seed }
