//! The Lua scripts the Redis broker runs. A script runs atomically in Redis: nothing
//! else happens between its commands, which is what makes a publish's append to history
//! and its pub/sub message one step (see the module docs of `super`).

use redis::Script;

/// Shared by the scripts: drops the history's expired head (entry ids are `SEQ-MS`), at
/// most 64 entries a call, and notes why.
const EXPIRE: &str = r#"
local function expire(meta, stream, cutoff)
  for _ = 1, 64 do
    local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
    if #head == 0 then return end
    local id = head[1][1]
    local t = tonumber(string.sub(id, string.find(id, '-', 1, true) + 1))
    if t > cutoff then return end
    redis.call('XDEL', stream, id)
    redis.call('HSET', meta, 'drop', 'expired')
  end
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function meta_of(meta, stream, fresh_epoch)
  local epoch = redis.call('HGET', meta, 'epoch')
  if not epoch then
    -- A new life of the topic: whatever a stream still holds is from an earlier one.
    epoch = fresh_epoch
    redis.call('DEL', stream)
    redis.call('HSET', meta, 'epoch', epoch, 'seq', 0)
  end
  return epoch
end
"#;

/// KEYS: meta, stream, idempotency key (or a placeholder).
/// ARGV: fresh epoch, payload, max messages, ttl ms, meta ttl ms, pub/sub channel,
/// "1" if there is an idempotency key, its window in ms.
/// Returns `{1, epoch, seq}`, or `{0, "EPOCH SEQ"}` for a repeated idempotency key.
const PUBLISH: &str = r#"
if ARGV[7] == '1' then
  local first = redis.call('GET', KEYS[3])
  if first then return {0, first} end
end
local epoch = meta_of(KEYS[1], KEYS[2], ARGV[1])
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local now = now_ms()
local max = tonumber(ARGV[3])
if max > 0 then
  redis.call('XADD', KEYS[2], string.format('%d-%d', seq, now), 'p', ARGV[2])
  if redis.call('XLEN', KEYS[2]) > max then
    redis.call('XTRIM', KEYS[2], 'MAXLEN', max)
    redis.call('HSET', KEYS[1], 'drop', 'trimmed')
  end
  expire(KEYS[1], KEYS[2], now - tonumber(ARGV[4]))
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
else
  redis.call('HSET', KEYS[1], 'drop', 'trimmed')
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PUBLISH', ARGV[6], 'm' .. epoch .. ' ' .. string.format('%d', seq) .. ' ' .. ARGV[2])
if ARGV[7] == '1' then
  redis.call('SET', KEYS[3], epoch .. ' ' .. string.format('%d', seq), 'PX', ARGV[8])
end
return {1, epoch, seq}
"#;

/// KEYS: meta, stream. ARGV: fresh epoch, ttl ms, meta ttl ms, since seq (-1: only the
/// latest, no messages), most entries to return, since epoch (empty: everything held).
/// Returns `{epoch, seq, drop, first held seq, entries}`.
const READ: &str = r#"
local epoch = meta_of(KEYS[1], KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq'))
local since = tonumber(ARGV[4])
if since < 0 then return {epoch, seq, '', seq + 1, {}} end
expire(KEYS[1], KEYS[2], now_ms() - tonumber(ARGV[2]))
local drop = redis.call('HGET', KEYS[1], 'drop') or ''
local first = seq + 1
local head = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if #head > 0 then
  local id = head[1][1]
  first = tonumber(string.sub(id, 1, string.find(id, '-', 1, true) - 1))
elseif seq > 0 and redis.call('EXISTS', KEYS[2]) == 0 and drop == '' then
  -- The stream itself expired: nothing was published for the TTL.
  drop = 'expired'
end
local from = since + 1
-- Another life's offset, or one this life never reached: everything held.
if ARGV[6] ~= epoch or since > seq or from < first then from = first end
local entries = redis.call('XRANGE', KEYS[2], string.format('%d-0', from), '+', 'COUNT', ARGV[5])
return {epoch, seq, drop, first, entries}
"#;

/// KEYS: presence by user, by node, the node's channels, the nodes hash. ARGV: channel,
/// user, node, the node's heartbeat expiry (ms), pub/sub channel. Publishes `+USER` when
/// this is the user's first entry in the channel.
const JOIN: &str = r#"
local added = redis.call('ZADD', KEYS[1], 0, ARGV[2] .. '\0' .. ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[3] .. '\0' .. ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HSETNX', KEYS[4], ARGV[3], ARGV[4])
if added == 1 then
  local all = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[2] .. '\0', '[' .. ARGV[2] .. '\0\255', 'LIMIT', 0, 2)
  if #all == 1 then
    redis.call('PUBLISH', ARGV[5], '+' .. ARGV[2])
    return 1
  end
end
return 0
"#;

/// KEYS: presence by user, by node, the node's channels. ARGV: channel, user, node,
/// pub/sub channel. Publishes `-USER` when that was the user's last entry.
const LEAVE: &str = r#"
local removed = redis.call('ZREM', KEYS[1], ARGV[2] .. '\0' .. ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[3] .. '\0' .. ARGV[2])
local mine = redis.call('ZRANGEBYLEX', KEYS[2], '[' .. ARGV[3] .. '\0', '[' .. ARGV[3] .. '\0\255', 'LIMIT', 0, 1)
if #mine == 0 then redis.call('SREM', KEYS[3], ARGV[1]) end
if removed == 1 then
  local left = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[2] .. '\0', '[' .. ARGV[2] .. '\0\255', 'LIMIT', 0, 1)
  if #left == 0 then
    redis.call('PUBLISH', ARGV[4], '-' .. ARGV[2])
    return 1
  end
end
return 0
"#;

/// KEYS: the nodes hash. ARGV: node, its new expiry (ms). Returns 1 if the node was not
/// listed, or marked as being swept (0): it was taken for dead (or Redis lost its data),
/// and must add its entries again.
const HEARTBEAT: &str = r#"
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if not old or tonumber(old) == 0 then return 1 end
return 0
"#;

/// KEYS: the nodes hash. ARGV: the key prefix, now (ms), most entries to remove. Removes
/// the presence entries of nodes whose heartbeat lapsed, publishing `-USER` for users
/// left with none, and forgets such nodes once they have no entries left. Returns 1 if
/// it stopped at the limit (call again).
const SWEEP: &str = r#"
local budget = tonumber(ARGV[3])
local nodes = redis.call('HGETALL', KEYS[1])
for i = 1, #nodes, 2 do
  local node, alive = nodes[i], tonumber(nodes[i + 1])
  if alive < tonumber(ARGV[2]) then
    -- Marked, so that the node, if it is alive after all, knows to add its entries again.
    redis.call('HSET', KEYS[1], node, 0)
    local index = ARGV[1] .. 'node:' .. node .. ':p'
    for _, channel in ipairs(redis.call('SMEMBERS', index)) do
      local base = ARGV[1] .. '{p:' .. channel .. '}'
      local entries = redis.call('ZRANGEBYLEX', base .. ':n', '[' .. node .. '\0', '[' .. node .. '\0\255', 'LIMIT', 0, budget)
      for _, entry in ipairs(entries) do
        local user = string.sub(entry, #node + 2)
        redis.call('ZREM', base .. ':n', entry)
        redis.call('ZREM', base .. ':u', user .. '\0' .. node)
        local left = redis.call('ZRANGEBYLEX', base .. ':u', '[' .. user .. '\0', '[' .. user .. '\0\255', 'LIMIT', 0, 1)
        if #left == 0 then
          redis.call('PUBLISH', ARGV[1] .. '{c:' .. channel .. '}', '-' .. user)
        end
        budget = budget - 1
      end
      if budget <= 0 then return 1 end
      redis.call('SREM', index, channel)
    end
    redis.call('HDEL', KEYS[1], node)
  end
end
return 0
"#;

/// KEYS: presence by user, the nodes hash. ARGV: now (ms). The users with an entry of a
/// live node, sorted, each once.
const LIST: &str = r#"
local alive = {}
local users = {}
local last = nil
for _, entry in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local cut = string.find(entry, '\0', 1, true)
  if cut then
    local user, node = string.sub(entry, 1, cut - 1), string.sub(entry, cut + 1)
    if alive[node] == nil then
      alive[node] = (tonumber(redis.call('HGET', KEYS[2], node)) or 0) >= tonumber(ARGV[1])
    end
    if alive[node] and user ~= last then
      users[#users + 1] = user
      last = user
    end
  end
end
return users
"#;

/// The scripts, loaded once (`EVALSHA`, falling back to `EVAL` after a Redis restart).
#[derive(Debug)]
pub(crate) struct Scripts {
    pub(crate) publish: Script,
    pub(crate) read: Script,
    pub(crate) join: Script,
    pub(crate) leave: Script,
    pub(crate) heartbeat: Script,
    pub(crate) sweep: Script,
    pub(crate) list: Script,
}

impl Scripts {
    /// Every script, to load them all at once after connecting (so that concurrent
    /// first calls do not each find them missing and load them).
    pub(crate) fn all(&self) -> [&Script; 7] {
        [
            &self.publish,
            &self.read,
            &self.join,
            &self.leave,
            &self.heartbeat,
            &self.sweep,
            &self.list,
        ]
    }
}

impl Default for Scripts {
    fn default() -> Self {
        let with_helpers = |body: &str| Script::new(&format!("{EXPIRE}{body}"));
        Scripts {
            publish: with_helpers(PUBLISH),
            read: with_helpers(READ),
            join: Script::new(JOIN),
            leave: Script::new(LEAVE),
            heartbeat: Script::new(HEARTBEAT),
            sweep: Script::new(SWEEP),
            list: Script::new(LIST),
        }
    }
}
