-- Token buckets, checked and debited atomically in one round trip (gateway/limits/rate-limiter.ts has the
-- same rules in TypeScript). KEYS: the buckets. ARGV: capacity, refill per second, cost for each bucket.
-- Time comes from the Redis server, so every gateway process sees one clock.
-- Returns: allowed (1/0), retry-after ms (-1: a cost exceeds its capacity), then per bucket its level and reset ms.
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local n = #KEYS
local levels = {}
local allowed = 1
local retry = 0
for i = 1, n do
  local capacity = tonumber(ARGV[i * 3 - 2])
  local rate = tonumber(ARGV[i * 3 - 1])
  local cost = tonumber(ARGV[i * 3])
  local state = redis.call('HMGET', KEYS[i], 't', 'u')
  local level = tonumber(state[1])
  if level == nil then
    level = capacity
  else
    local elapsed = math.max(0, now - tonumber(state[2]))
    level = math.min(capacity, level + elapsed * rate / 1000)
  end
  levels[i] = level
  if cost > level then
    allowed = 0
    if cost > capacity then
      retry = -1
    elseif retry ~= -1 then
      retry = math.max(retry, math.ceil((cost - level) * 1000 / rate))
    end
  end
end
local out = { allowed, retry }
for i = 1, n do
  local capacity = tonumber(ARGV[i * 3 - 2])
  local rate = tonumber(ARGV[i * 3 - 1])
  local cost = tonumber(ARGV[i * 3])
  local level = levels[i]
  if allowed == 1 then level = math.min(capacity, level - cost) end
  redis.call('HSET', KEYS[i], 't', tostring(level), 'u', now)
  -- An idle bucket refills to capacity, which is the same as no bucket: let it expire then.
  redis.call('PEXPIRE', KEYS[i], math.ceil((capacity - math.min(level, capacity)) * 1000 / rate) + 1000)
  -- Redis truncates Lua numbers to integers on return, so levels travel as strings.
  out[#out + 1] = tostring(level)
end
return out
