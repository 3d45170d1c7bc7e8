#!/usr/bin/env bash
# Soak test: trains the toy2d preset for 10,000 iterations (or $1) with the release binary and
# samples the process's resident memory (VmRSS) as it goes. Passes when the memory after
# warm-up grows by less than 5%. Warm-up is the first 30% of the iterations: the kernels'
# bind-group caches fill to their cap (1,024 each, then cleared) and the allocator settles
# over the first ~3,000 toy2d iterations (measured: docs/reliability.md §5).
#
#   bench/soak.sh [ITERATIONS] [OUT_DIR]      e.g. bench/soak.sh 10000 runs/soak
#
# Prints one line per sample (iteration, RSS in MiB) and the growth; the samples are also in
# OUT_DIR/rss.tsv. Needs Linux (/proc) and a release build (`cargo build --release`).
set -euo pipefail
cd "$(dirname "$0")/.."

iterations="${1:-10000}"
out="${2:-runs/soak}"
binary=target/release/dualmcmc
[ -x "$binary" ] || { echo "soak: build first: cargo build --release" >&2; exit 2; }
[ -e "$out" ] && { echo "soak: $out exists; remove it or name another folder" >&2; exit 2; }
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

"$binary" --no-gui train --preset toy2d --quiet --out "$out" \
  --set schedule.iterations="$iterations" --set schedule.log_every=10 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT

samples="$(mktemp)"
while kill -0 "$pid" 2>/dev/null; do
  rss_kib="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
  done_its="$(tail -n 1 "$out/metrics.jsonl" 2>/dev/null | sed -n 's/.*"iteration":\([0-9]*\).*/\1/p' || true)"
  if [ -n "$rss_kib" ] && [ -n "$done_its" ]; then
    printf '%s\t%s\n' "$done_its" "$rss_kib" >> "$samples"
  fi
  sleep 5
done
wait "$pid"
trap - EXIT
mv "$samples" "$out/rss.tsv"

awk -v total="$iterations" '
  { it[NR] = $1; rss[NR] = $2 / 1024 }
  NR % 20 == 1 { printf "iteration %6d  RSS %7.1f MiB\n", $1, $2 / 1024 }
  END {
    early = 0; warm = 0
    for (i = 1; i <= NR; i++) if (early == 0 && it[i] >= total / 10) early = i
    for (i = 1; i <= NR; i++) if (it[i] >= 3 * total / 10) { warm = i; break }
    if (warm == 0) { print "soak: no samples after warm-up" > "/dev/stderr"; exit 2 }
    printf "RSS at iteration %d (10%%): %.1f MiB; growth from there %.2f%%\n",
      it[early], rss[early], 100 * (rss[NR] - rss[early]) / rss[early]
    growth = 100 * (rss[NR] - rss[warm]) / rss[warm]
    printf "RSS after warm-up (iteration %d): %.1f MiB; at the end (iteration %d): %.1f MiB; growth %.2f%%\n",
      it[warm], rss[warm], it[NR], rss[NR], growth
    if (growth >= 5) { print "soak: FAILED, resident memory grew by 5% or more" > "/dev/stderr"; exit 1 }
    print "soak: passed (growth under 5%)"
  }' "$out/rss.tsv"
