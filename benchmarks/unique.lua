-- wrk script: every request carries its own X-Request-Id, so no two requests are the same bytes.
-- flashstatic serve answers a request repeated byte for byte without parsing it again
-- (flashstatic/server/repeats.py); with this script every request is parsed instead, as
-- requests whose headers vary (cookies, tracing ids) are.
local n = 0

function request()
   n = n + 1
   return wrk.format(nil, nil, {["X-Request-Id"] = tostring(n)})
end
