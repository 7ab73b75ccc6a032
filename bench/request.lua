-- wrk script for every wrk row of bench/run.sh: one request, repeated, configured from the
-- environment so the same script drives cfssl and edgecert, creates and lists:
--   BENCH_METHOD     GET or POST (default GET)
--   BENCH_BODY_FILE  file whose content is the JSON body (optional)
--   BENCH_TOKEN      bearer token for edgecert (optional; cfssl takes none)
-- done() prints one "BENCH_JSON {...}" line that bench.py parses: wrk's own text output
-- rounds, changes units, and does not separate non-2xx answers from socket errors.

wrk.method = os.getenv("BENCH_METHOD") or "GET"

local body_file = os.getenv("BENCH_BODY_FILE")
if body_file and body_file ~= "" then
  local handle = assert(io.open(body_file, "rb"))
  wrk.body = handle:read("*a")
  handle:close()
  wrk.headers["Content-Type"] = "application/json"
end

local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%.1f,"p99_us":%.1f,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
