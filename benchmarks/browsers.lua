-- wrk script: requests as many browsers send them, for the access log's sake. Each carries a
-- Referer of its own (a page number that counts up) and one of a few User-Agents in turn, so
-- that no access-log line repeats an earlier one: as on a server whose clients differ.
local agents = {
   "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
   "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
   "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
   "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
   "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
}
local n = 0

function request()
   n = n + 1
   return wrk.format(nil, nil, {
      ["User-Agent"] = agents[n % #agents + 1],
      ["Referer"] = "https://example.com/articles/" .. n,
      ["Accept"] = "*/*",
      ["Accept-Language"] = "en-US,en;q=0.9",
   })
end
