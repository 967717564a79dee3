#!/usr/bin/env bash
# End-to-end test of deployments/local/stack, in a throw-away state folder on non-default ports
# so a running dev stack is left alone:
#   fresh `up` -> status -> `up` again (must return at once) -> real use of each server ->
#   `down` -> nothing left -> `up` from the existing state (no Maven, data kept) -> SIGKILL all
#   (power loss) -> `up` (data kept) -> `down` -> `reset --yes` -> `up` with a port taken.
# Ends with the line `stack: N passed, M failed`; exits non-zero if anything failed.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
readonly SCRIPT_DIR
readonly STACK="$SCRIPT_DIR/stack"

SHOP_STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/shop-stack-test.XXXXXX")
export SHOP_STACK_DIR
export SHOP_KAFKA_PORT=19092 SHOP_KAFKA_CONTROLLER_PORT=19093 SHOP_REGISTRY_PORT=18081
export SHOP_REGISTRY_MANAGEMENT_PORT=19081 SHOP_POSTGRES_PORT=15433
readonly PORTS=(19092 19093 18081 19081 15433)
readonly STATE=$SHOP_STACK_DIR
readonly WORK="$STATE/test" # scratch files of this test, removed with the state folder
readonly UP_LIMIT=600       # seconds any single `stack up` may take before we call it hung
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$SCRIPT_DIR/pom.xml")
readonly KAFKA_VERSION KAFKA_JAR="kafka/lib/kafka_2.13-$KAFKA_VERSION.jar"

passed=0
failed=0

say() { printf 'test-stack: %s\n' "$*" >&2; }
ok() { passed=$((passed + 1)); printf 'ok   - %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL - %s\n' "$*"; }
check() { # description command...
  local description=$1
  shift
  if "$@"; then ok "$description"; else fail "$description"; fi
}
# A failure that makes the rest meaningless: report, count, stop (cleanup runs from the trap).
fatal() {
  fail "$*"
  summary
  exit 1
}
summary() { printf 'stack: %d passed, %d failed\n' "$passed" "$failed"; }

now_ms() { date +%s%3N; }
seconds_since() { # start_ms -> "12.34"
  local ms=$(($(now_ms) - $1))
  printf '%d.%02d' $((ms / 1000)) $((ms % 1000 / 10))
}

# Pids of live processes whose command line names our state folder. (Postgres' helper processes
# don't carry it; no_listeners covers them.)
our_processes() {
  local f pid cmdline
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    cmdline=$(tr '\0' ' ' 2>/dev/null <"$f") || continue
    if [[ $cmdline == *"$STATE/"* ]]; then printf '%s\n' "$pid"; fi
  done
}
no_processes_left() { [[ -z $(our_processes) ]]; }
no_listeners() {
  local port
  for port in "${PORTS[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 1; fi
  done
}

# Like a power cut: SIGKILL the servers (and postgres' helper processes) all at once, leaving
# pid files, postmaster.pid and un-checkpointed data behind.
simulate_power_loss() {
  local pids=() pid postmaster
  mapfile -t pids < <(our_processes)
  postmaster=$(head -n 1 "$STATE/postgres/data/postmaster.pid" 2>/dev/null || true)
  if [[ -n $postmaster ]]; then
    mapfile -t -O "${#pids[@]}" pids < <(ps -o pid= --ppid "$postmaster" | tr -d ' ')
  fi
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  # Gone or a zombie (this sandbox's init may not reap orphans), 10 s at most.
  for pid in "${pids[@]}"; do
    for _ in {1..100}; do
      [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z) == Z ]] && break
      sleep 0.1
    done
  done
}

# A port taken by a foreign process must give a clear error naming it, and start nothing.
port_conflict_reported() {
  local blocker rc=0 out
  # SO_REUSEADDR: the broker's old connections may still sit in TIME_WAIT on that port.
  python3 -c 'import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 19092)); s.listen(); time.sleep(120)' &
  blocker=$!
  for _ in {1..50}; do
    (exec 3<>/dev/tcp/127.0.0.1/19092) 2>/dev/null && break
    sleep 0.1
  done
  if ! kill -0 "$blocker" 2>/dev/null; then
    say "could not hold port 19092 for the check"
    return 1
  fi
  out=$(timeout 120 "$STACK" up 2>&1) || rc=$?
  kill "$blocker"
  wait "$blocker" 2>/dev/null || true
  say "up with port 19092 taken: exit $rc: $(grep error <<<"$out")"
  [[ $rc != 0 && $out == *"port 19092"*"already in use"* ]] && no_processes_left
}

cleanup() {
  local pid
  "$STACK" down >/dev/null 2>&1 || true
  # Last resort, only for processes of this test's own state folder.
  for pid in $(our_processes); do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf -- "$STATE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so the EXIT trap cleans up on Ctrl-C or kill too

# Runs `stack up` inside $(...) with a time limit: a server that kept our stdout/stderr open
# would make this hang. Sets UP_OUTPUT, UP_RC and UP_SECONDS.
run_up() {
  local start
  start=$(now_ms)
  UP_RC=0
  UP_OUTPUT=$(timeout "$UP_LIMIT" "$STACK" up 2>&1) || UP_RC=$?
  UP_SECONDS=$(seconds_since "$start")
}

status_rc() {
  local rc=0
  "$STACK" status >/dev/null 2>&1 || rc=$?
  printf '%s\n' "$rc"
}

pids_of_status() { "$STACK" status 2>/dev/null | awk 'NR > 1 { print $4 }' | tr '\n' ' '; }

cluster_id() { sed -n 's/^cluster.id=//p' "$STATE/kafka/data/meta.properties" 2>/dev/null; }

# A real Kafka client: metadata, topic creation, a transactional produce and a read_committed
# consumer group (exercises __consumer_offsets and __transaction_state on one node).
write_kafka_smoke() {
  mkdir -p -- "$WORK"
  cat >"$WORK/KafkaSmoke.java" <<'EOF'
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Usage: KafkaSmoke BOOTSTRAP TOPIC create|verify. Prints cluster.id=...; exits 1 on failure. */
public class KafkaSmoke {
  public static void main(String[] args) throws Exception {
    String bootstrap = args[0], topic = args[1], mode = args[2];
    Properties common = new Properties();
    common.put("bootstrap.servers", bootstrap);
    try (Admin admin = Admin.create(common)) {
      System.out.println("cluster.id=" + admin.describeCluster().clusterId().get());
      if (mode.equals("create")) {
        admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
      }
    }
    if (mode.equals("create")) {
      Properties p = new Properties();
      p.putAll(common);
      p.put("key.serializer", StringSerializer.class.getName());
      p.put("value.serializer", StringSerializer.class.getName());
      p.put("transactional.id", "stack-smoke");
      try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
        producer.initTransactions();
        producer.beginTransaction();
        producer.send(new ProducerRecord<>(topic, "k", "hello"));
        producer.commitTransaction();
      }
    }
    Properties c = new Properties();
    c.putAll(common);
    c.put("group.id", "stack-smoke-" + UUID.randomUUID());
    c.put("auto.offset.reset", "earliest");
    c.put("isolation.level", "read_committed");
    c.put("key.deserializer", StringDeserializer.class.getName());
    c.put("value.deserializer", StringDeserializer.class.getName());
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
      consumer.subscribe(List.of(topic));
      long deadline = System.currentTimeMillis() + 30_000;
      while (System.currentTimeMillis() < deadline) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
          if ("hello".equals(r.value())) {
            consumer.commitSync();
            System.out.println("consumed=" + r.value());
            return;
          }
        }
      }
    }
    System.err.println("no committed record read from " + topic + " within 30 s");
    System.exit(1);
  }
}
EOF
}

kafka_smoke() { # create|verify
  java -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$STATE/kafka/lib/*" \
    "$WORK/KafkaSmoke.java" "127.0.0.1:$SHOP_KAFKA_PORT" stack-smoke "$1" \
    >"$WORK/smoke-$1.out" 2>"$WORK/smoke-$1.err"
}

# Identical schema content under two subjects must get one id, as with Confluent.
registry_same_id() {
  local url=$1 a b
  a=$(curl -fsS -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data '{"schema":"\"string\""}' "$url/subjects/a-key/versions") || return 1
  b=$(curl -fsS -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data '{"schema":"\"string\""}' "$url/subjects/b-key/versions") || return 1
  say "registry ids: a-key $a, b-key $b"
  [[ $a == *'"id":'* && $a == "$b" ]]
}

output_lacks() { ! grep -q -- "$1" <<<"$UP_OUTPUT"; }
# `logs kafka` prints the tail of the broker's log (up to 100 lines of Kafka's own output).
logs_show_kafka() {
  local out
  out=$("$STACK" logs kafka 2>/dev/null) || return 1
  [[ -n $out && $(wc -l <<<"$out") -le 100 && $out == *kafka* ]]
}

registry_backward() { [[ $(curl -fsS "$1/config") == *'"BACKWARD"'* ]]; }

pg() { psql -X -q -v ON_ERROR_STOP=1 -tA "$SHOP_DATABASE_URL" -c "$1"; }

# ---------------------------------------------------------------------------------------------

say "state folder $STATE, ports ${PORTS[*]}"
for port in "${PORTS[@]}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fatal "port $port is already in use; the test needs ${PORTS[*]} free"
  fi
done
# Prove a fresh install needs no internet when the Maven cache holds the artifacts.
if [[ -n $(find ~/.m2/repository/org/apache/kafka/kafka_2.13 ~/.m2/repository/io/apicurio/apicurio-registry-app \
  -name '*.jar' -o -name '*-all.tar.gz' 2>/dev/null | head -n 1) ]]; then
  export SHOP_STACK_MAVEN_OFFLINE=1
  say "artifacts found in ~/.m2: running Maven offline (-o)"
fi

# 1. Cold start from an empty state folder.
run_up
cold=$UP_SECONDS
printf '%s\n' "$UP_OUTPUT" | sed 's/^/    | /'
[[ $UP_RC == 0 ]] || fatal "cold 'stack up' exited $UP_RC"
ok "cold 'stack up' in ${cold}s"
check "cold up installed with Maven" grep -q 'with Maven' <<<"$UP_OUTPUT"
check "cold up formatted Kafka storage" grep -q 'formatting Kafka' <<<"$UP_OUTPUT"
check "status exits 0 with all running" test "$(status_rc)" = 0
check ".local state has its layout" test -f "$STATE/$KAFKA_JAR" -a \
  -f "$STATE/kafka/server.properties" -a -d "$STATE/registry/app" -a -f "$STATE/postgres/data/PG_VERSION"

# 2. Already running: returns at once and changes nothing.
pids_before=$(pids_of_status)
run_up
warm=$UP_SECONDS
check "warm 'stack up' exits 0" test "$UP_RC" = 0
check "warm 'stack up' takes < 3 s (${warm}s)" awk -v s="$warm" 'BEGIN { exit !(s < 3) }'
check "warm 'stack up' says already running" grep -q 'already running' <<<"$UP_OUTPUT"
check "warm 'stack up' kept the same processes" test "$pids_before" = "$(pids_of_status)"

# 3. The servers do their jobs, through the env the apps get.
eval "$("$STACK" env)"
check "env names the test ports" test "$SHOP_KAFKA_BROKERS" = "127.0.0.1:19092" -a \
  "$SHOP_SCHEMA_REGISTRY_URL" = "http://127.0.0.1:18081/apis/ccompat/v7" -a \
  "$SHOP_DATABASE_URL" = "postgres://shop:shop@127.0.0.1:15433/shop"
write_kafka_smoke
if kafka_smoke create; then
  ok "kafka: metadata, create topic, transactional produce, read_committed group consume"
else
  fail "kafka smoke test: $(tail -n 5 "$WORK/smoke-create.err")"
fi
check "kafka cluster id seen by the client matches meta.properties" \
  grep -qx "cluster.id=$(cluster_id)" "$WORK/smoke-create.out"
check "registry global compatibility is BACKWARD" registry_backward "$SHOP_SCHEMA_REGISTRY_URL"
check "registry gives identical schemas one id across subjects" registry_same_id "$SHOP_SCHEMA_REGISTRY_URL"
check "postgres: role shop creates a table and a row" \
  pg "CREATE TABLE stack_smoke (x int); INSERT INTO stack_smoke VALUES (42);"
check "'stack logs kafka' prints the broker log" logs_show_kafka

# 4. Down: everything of ours stops, nothing else.
cluster_before=$(cluster_id)
install_log_before=$(cksum <"$STATE/logs/install.log")
check "'stack down' exits 0" "$STACK" down
check "status exits 3 when stopped" test "$(status_rc)" = 3
check "no process of this state folder left" no_processes_left
check "no listener left on the test ports" no_listeners

# 5. Restart from the existing state (as after a reboot): no Maven, same data.
run_up
restart=$UP_SECONDS
printf '%s\n' "$UP_OUTPUT" | sed 's/^/    | /'
[[ $UP_RC == 0 ]] || fatal "restart 'stack up' exited $UP_RC"
ok "restart 'stack up' in ${restart}s"
check "restart did not run Maven" output_lacks 'with Maven'
check "restart left the install log alone" test "$install_log_before" = "$(cksum <"$STATE/logs/install.log")"
check "restart did not format Kafka storage again" output_lacks 'formatting Kafka'
check "kafka cluster id unchanged ($cluster_before)" test "$cluster_before" = "$(cluster_id)"
if kafka_smoke verify; then ok "kafka: record written before the restart is still there"; else
  fail "kafka: record lost over restart: $(tail -n 5 "$WORK/smoke-verify.err")"
fi
check "postgres: row written before the restart is still there" test "$(pg 'SELECT x FROM stack_smoke')" = 42
check "registry compatibility set again after restart" registry_backward "$SHOP_SCHEMA_REGISTRY_URL"

# 6. Power loss, then `up`: stale pid files are recognised, data survives.
simulate_power_loss
check "status exits 3 after the power loss" test "$(status_rc)" = 3
run_up
crash=$UP_SECONDS
[[ $UP_RC == 0 ]] || fatal "'stack up' after power loss exited $UP_RC: $UP_OUTPUT"
ok "'stack up' after power loss in ${crash}s"
check "kafka cluster id unchanged after power loss" test "$cluster_before" = "$(cluster_id)"
if kafka_smoke verify; then ok "kafka: record still there after power loss"; else
  fail "kafka: record lost after power loss: $(tail -n 5 "$WORK/smoke-verify.err")"
fi
check "postgres: row still there after power loss" test "$(pg 'SELECT x FROM stack_smoke')" = 42

# 7. Down again, then reset keeps the downloads and drops the data.
check "second 'stack down' exits 0" "$STACK" down
check "no process of this state folder left after second down" no_processes_left
check "'stack reset --yes' exits 0" "$STACK" reset --yes
check "reset deleted the data" test ! -e "$STATE/kafka/data" -a ! -e "$STATE/postgres"
check "reset kept the jars and the registry app" test -f "$STATE/$KAFKA_JAR" -a -d "$STATE/registry/app"

# 8. A foreign process on a port.
if command -v python3 >/dev/null; then
  check "'stack up' names a port taken by another process and starts nothing" port_conflict_reported
else
  say "python3 missing: port-conflict check skipped"
fi

printf 'timings: cold up %ss, warm up (already running) %ss, restart up %ss, up after power loss %ss\n' \
  "$cold" "$warm" "$restart" "$crash"
summary
((failed == 0))
