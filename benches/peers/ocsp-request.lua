-- wrk script: POST an OCSP request (SHA-1 CertID, no nonce) for synthetic serial
-- 0x10000000_00000000 + i of the CA made by sigil-fill-replica. i is uniform in [0, COUNT)
-- or fixed at 0 when FIXED=1. NH/KH: hex issuer name/key hashes (fill.json).
local count = tonumber(os.getenv("COUNT") or "1")
local fixed = os.getenv("FIXED") == "1"

local function hex2bin(h)
  return (h:gsub("..", function(c) return string.char(tonumber(c, 16)) end))
end

-- OCSPRequest / TBSRequest / requestList / Request / CertID, then id-sha1 with NULL params.
local prefix = "\48\73\48\71\48\69\48\67\48\65\48\9\6\5\43\14\3\2\26\5\0"
  .. "\4\20" .. hex2bin(os.getenv("NH")) .. "\4\20" .. hex2bin(os.getenv("KH")) .. "\2\8\16\0\0\0\0"
local headers = { ["Content-Type"] = "application/ocsp-request" }

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
  local i = 0
  if not fixed then i = math.random(0, count - 1) end
  local serial = string.char(math.floor(i / 65536) % 256, math.floor(i / 256) % 256, i % 256)
  return wrk.format("POST", "/", headers, prefix .. serial)
end
