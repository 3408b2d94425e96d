-- Machine-readable totals for bench/proxy.sh: throughput, p99 and errors.
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format("RPS %.1f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("P99_MS %.3f\n", latency:percentile(99) / 1000))
  io.write(string.format("ERRORS %d\n", errors))
end
