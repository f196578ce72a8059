#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/, cargo fuzz on nightly) one after another, each for SECONDS of
# CPU time on one CPU, and keeps what they found: the new inputs are merged into the committed
# corpus (fuzz/corpus/<target>/, minimized: libFuzzer's -set_cover_merge=1 over edges), every
# crash, timeout or out-of-memory input is copied to fuzz/regressions/<target>/ (which
# `cargo test -p sigil-fuzzing` replays on stable) and makes the script exit 1. Prints a
# markdown table for docs/RELIABILITY.md.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]     # default 600 s, every target
#
# Environment: FUZZ_CPU (default 1; the CPU taskset pins each run to), CARGO_TARGET_DIR
# (default /var/tmp/sigil-target-fuzz), FUZZ_SANITIZER (default none: the targets are safe
# Rust and the unsanitized build runs several times more inputs; `address` for ASan),
# FUZZ_TABLE (also append the table to this file, and each target's row to FUZZ_TABLE.rows
# as soon as that target is done).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${1:-600}
shift || true
cpu=${FUZZ_CPU:-1}
sanitizer=${FUZZ_SANITIZER:-none}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/sigil-target-fuzz}
# Scratch files of the configuration targets in memory when possible.
[ -d /dev/shm ] && export TMPDIR=${TMPDIR:-/dev/shm}

command -v taskset >/dev/null || { echo "fuzz.sh: taskset (util-linux) is needed" >&2; exit 2; }
cargo +nightly fuzz --version >/dev/null 2>&1 ||
  { echo "fuzz.sh: needs nightly Rust and cargo-fuzz (cargo install cargo-fuzz --locked)" >&2; exit 2; }

cd fuzz
# The workspace's versions of every dependency (cargo keeps them and adds libfuzzer-sys), so
# the fuzzers run the code `cargo test` replays.
cp ../Cargo.lock Cargo.lock
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
echo "fuzz.sh: building ${#targets[@]} target(s) (sanitizer $sanitizer)" >&2
if [ $# -gt 0 ]; then
  for t in "${targets[@]}"; do cargo +nightly fuzz build --sanitizer "$sanitizer" "$t" >&2; done
else
  cargo +nightly fuzz build --sanitizer "$sanitizer" >&2
fi
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
bindir=$CARGO_TARGET_DIR/$triple/release

count() { find "$1" -maxdepth 1 -type f 2>/dev/null | wc -l; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rows=()
failed=0
for t in "${targets[@]}"; do
  bin=$bindir/$t
  corpus=$root/fuzz/corpus/$t
  mkdir -p "$corpus" "$work/$t/run" "$work/$t/artifacts"
  before=$(count "$corpus")
  cp -r "$corpus/." "$work/$t/run/"
  echo "fuzz.sh: $t for ${seconds} CPU-seconds on CPU $cpu ($before corpus files)" >&2
  # -max_total_time is wall-clock time and the CPU is shared: run again (from the corpus
  # grown so far) until the fuzzer has had SECONDS of CPU time (user + system, GNU time),
  # giving up after 4 × SECONDS + 60 s of wall-clock time.
  cpu_cs=0 execs=0 status=0 spurious=0
  give_up=$(($(date +%s) + 4 * seconds + 60))
  while [ "$cpu_cs" -lt $((seconds * 100)) ] && [ "$(date +%s)" -lt "$give_up" ]; do
    left=$(((seconds * 100 - cpu_cs + 99) / 100))
    [ "$left" -lt 5 ] && left=5
    set +e
    /usr/bin/time -f '%U %S' -o "$work/$t/time" \
      taskset -c "$cpu" "$bin" -max_total_time="$left" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$work/$t/artifacts/" "$work/$t/run" \
      >>"$work/$t/log" 2>&1
    status=$?
    set -e
    cpu_cs=$((cpu_cs + $(awk 'END {printf "%d", ($1 + $2) * 100}' "$work/$t/time")))
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t/log" | tail -1)
    execs=$((execs + ${n:-0}))
    # A timeout (or slow unit) that does not happen again when the input runs alone was the
    # machine's stall (a shared host's steal, a stopped process), not the input's: kept
    # aside, and the run goes on.
    # (Checked after every run: a slow unit does not stop libFuzzer.)
    if [ "$(count "$work/$t/artifacts")" -gt 0 ]; then
      for a in "$work/$t/artifacts/"timeout-* "$work/$t/artifacts/"slow-unit-*; do
        [ -e "$a" ] || continue
        if timeout 60 taskset -c "$cpu" "$bin" -timeout=10 -rss_limit_mb=2048 -runs=1 "$a" >>"$work/$t/recheck" 2>&1; then
          echo "fuzz.sh: $t: $(basename "$a") ran in time alone: a stall of the machine, not kept" >&2
          spurious=$((spurious + 1))
          rm -f "$a"
        fi
      done
      [ "$status" -ne 0 ] && [ "$(count "$work/$t/artifacts")" -eq 0 ] && status=0
    fi
    [ "$status" -ne 0 ] && break
  done
  cpu_s=$((cpu_cs / 100))
  # Merge into the committed corpus, minimized: a set cover of the edges reached (hit counts
  # ignored, so that the corpus stays small), smallest inputs preferred.
  mkdir -p "$work/$t/min"
  taskset -c "$cpu" "$bin" -set_cover_merge=1 -use_counters=0 -timeout=10 -rss_limit_mb=2048 "$work/$t/min" \
    "$corpus" "$work/$t/run" >"$work/$t/merge.log" 2>&1 ||
    { echo "fuzz.sh: merging $t failed; corpus left as it was (see below)" >&2; tail -5 "$work/$t/merge.log" >&2; cp -r "$corpus/." "$work/$t/min/"; }
  find "$corpus" -maxdepth 1 -type f -delete
  cp "$work/$t/min/"* "$corpus/" 2>/dev/null || true
  after=$(count "$corpus")
  crashes=$(count "$work/$t/artifacts")
  if [ "$crashes" -gt 0 ]; then
    mkdir -p "$root/fuzz/regressions/$t"
    cp "$work/$t/artifacts/"* "$root/fuzz/regressions/$t/"
    echo "fuzz.sh: $t FAILED; inputs in fuzz/regressions/$t:" >&2
    ls "$work/$t/artifacts" >&2
    grep -m1 -A12 -E "panicked|ERROR: libFuzzer|==ERROR" "$work/$t/log" >&2 || tail -20 "$work/$t/log" >&2
    failed=1
  elif [ "$status" -ne 0 ]; then
    echo "fuzz.sh: $t exited $status without a crash input:" >&2
    tail -20 "$work/$t/log" >&2
    failed=1
  fi
  rows+=("| \`$t\` | $cpu_s | $execs | $before | $after | $crashes | $spurious |")
  # Each target's row as soon as it is done (a long run may be stopped part-way).
  [ -n "${FUZZ_TABLE:-}" ] && echo "${rows[-1]}" >>"$FUZZ_TABLE.rows"
done

table=$({
  echo "| target | CPU-seconds | executions | corpus files before | after | crashes | stalls not kept |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
})
echo "$table"
[ -n "${FUZZ_TABLE:-}" ] && echo "$table" >>"$FUZZ_TABLE"
exit "$failed"
