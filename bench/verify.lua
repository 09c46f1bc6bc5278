-- wrk script used by bench/run.sh for the warm-up run of the tenancy-path
-- targets (not for the measured runs, whose load generator must stay as cheap
-- as in the other tables): counts the responses that are not 200, that lack
-- the upstream's X-Bench-Upstream header (i.e. were not really proxied) or
-- whose body does not name the benchmarked sandbox. Prints one line:
--   verify: responses=N non200=N unproxied=N wrongbody=N
-- Arguments (wrk ... URL -- ID [HEADER]): the sandbox id the body must name,
-- and the response header that proves the upstream answered [x-bench-upstream;
-- "-" = no header check, for an upstream that sends none].
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    want = args[1] and ('"id":"' .. args[1] .. '"') or nil
    mark = string.lower(args[2] or "x-bench-upstream")
    responses, non200, unproxied, wrongbody = 0, 0, 0, 0
end

function response(status, headers, body)
    responses = responses + 1
    if status ~= 200 then
        non200 = non200 + 1
    end
    local proxied = mark == "-"
    for k, v in pairs(headers) do
        if not proxied and string.lower(k) == mark then
            proxied = true
        end
    end
    if not proxied then
        unproxied = unproxied + 1
    end
    if want and (body == nil or not string.find(body, want, 1, true)) then
        wrongbody = wrongbody + 1
    end
end

function done(summary, latency, requests)
    local r, n, u, w = 0, 0, 0, 0
    for _, t in ipairs(threads) do
        r = r + t:get("responses")
        n = n + t:get("non200")
        u = u + t:get("unproxied")
        w = w + t:get("wrongbody")
    end
    io.write(string.format("verify: responses=%d non200=%d unproxied=%d wrongbody=%d\n", r, n, u, w))
end
