#!/usr/bin/env bash
# Proxy benchmark entry point (`bun run bench`): installs the reference tools if missing, then runs
# bench/proxy.ts. Everything listens on 127.0.0.1 only. See bench/README.md.
# Environment: ROUNDS DURATION WARMUP CONNS PATHS TARGETS CC_CMD CC_READY_TIMEOUT (see README).
# The Node.js peer columns (nodehttpproxy, fastify) need node/npm and bench/peers/node_modules (npm ci).
set -euo pipefail

cd "$(dirname "$0")/.."

need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
{ command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } || need+=(nginx-light)
{ command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; } || need+=(haproxy)
# The default TARGETS include the Node.js peers; an explicit list may leave them out.
want_peers=0
if [ -z "${TARGETS:-}" ] || [[ ",${TARGETS}," =~ ,(nodehttpproxy|fastify), ]]; then want_peers=1; fi
if [ "$want_peers" -eq 1 ]; then
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench: missing ${need[*]}; run as root or install them: apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "bench: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
  # The packages start system services on install; the bench runs its own copies on loopback.
  for svc in nginx haproxy; do
    if [[ " ${need[*]} " == *" $svc"* ]] && command -v systemctl >/dev/null 2>&1; then
      systemctl stop "$svc" >/dev/null 2>&1 || true
    fi
  done
fi
export PATH="$PATH:/usr/sbin:/sbin"

# Dev-only packages for the peers, pinned by bench/peers/package-lock.json; the product's own dependencies
# (package.json, bun.lock) do not change. Reinstalled when the lockfile is newer than the installed tree.
if [ "$want_peers" -eq 1 ]; then
  peers=bench/peers
  if [ ! -f "$peers/node_modules/.package-lock.json" ] || [ "$peers/package-lock.json" -nt "$peers/node_modules/.package-lock.json" ]; then
    echo "bench: installing the Node.js peers (npm ci --prefix $peers)" >&2
    npm ci --prefix "$peers" --no-audit --no-fund --loglevel=error
  fi
fi

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

BENCH_TMP="$(mktemp -d "${TMPDIR:-/tmp}/cc-bench.XXXXXX")"
export BENCH_TMP
: >"$BENCH_TMP/pids"

# The harness stops what it started; this is the backstop if it dies or is killed. Only our own pids.
cleanup() {
  local pids
  pids="$(cat "$BENCH_TMP/pids" 2>/dev/null || true)"
  if [ -n "$pids" ]; then
    for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      local alive=0
      for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ "$alive" -eq 0 ] && break
      sleep 0.2
    done
    for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
  fi
  if [ "${BENCH_KEEP_TMP:-0}" = "1" ]; then
    echo "bench: logs and configs kept in $BENCH_TMP" >&2
  else
    rm -rf "$BENCH_TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bun bench/proxy.ts "$@"
