#!/usr/bin/env bash
# The whole stack on one machine: emulated AWS (moto) on 127.0.0.1:$MOTO_PORT with the
# resources of template.yaml, a demo organization and its admin key, and every function served
# by `cargo lambda watch` at its real path on http://127.0.0.1:$API_PORT, and the pollers that
# feed the delivery and reply queues to their workers as Lambda's SQS event source would, and the
# schedule that runs the SLA job every minute as EventBridge would.
# Ctrl-C stops it all.
set -euo pipefail
# Milliseconds since `make dev` began (it passes its start), or since this script began.
now_ms() { date +%s%3N; }
started_at="${HOOKGATE_DEV_STARTED_MS:-$(now_ms)}"
cd "$(dirname "$0")/.."
MOTO_PORT="${MOTO_PORT:-5005}"
API_PORT="${API_PORT:-9000}"
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p .local

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

started=()
stop() {
  trap - EXIT INT TERM
  for pid in "${started[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "stopped."
}
trap stop EXIT INT TERM

if port_busy "$API_PORT"; then
  echo "port $API_PORT is in use: is \`make dev\` already running? (set API_PORT to use another)" >&2
  exit 1
fi

# The build needs none of the tools: it runs while they are installed. It builds the binaries
# only (every function and hookgate-admin): the tests' harness, which links the AWS SDK to read
# what the functions wrote, is not part of the stack.
echo "== building every function in the background (log: .local/build.log; first run: a few minutes)"
build_began=$(now_ms)
cargo build --workspace --bins --quiet >.local/build.log 2>&1 &
build=$!
started+=("$build")
echo "== installing the local tools meanwhile (.venv: the AWS emulator and cargo-lambda)"
tools_began=$(now_ms)
bash infra/install-tools.sh dev
tools_ms=$(($(now_ms) - tools_began))

if port_busy "$MOTO_PORT"; then
  if curl -sf "http://127.0.0.1:$MOTO_PORT/moto-api/data.json" >/dev/null; then
    echo "== reusing the emulator already on port $MOTO_PORT"
  else
    echo "port $MOTO_PORT is in use by something that is not moto (set MOTO_PORT to use another)" >&2
    exit 1
  fi
else
  echo "== starting the AWS emulator (moto) on 127.0.0.1:$MOTO_PORT (log: .local/moto.log)"
  python infra/emulator.py -H 127.0.0.1 -p "$MOTO_PORT" >.local/moto.log 2>&1 &
  started+=($!)
  for _ in $(seq 1 100); do port_busy "$MOTO_PORT" && break; sleep 0.2; done
fi

export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
export TABLE_NAME=HookgateTable PEPPER_SECRET_ID=ApiKeyPepperSecret
export DELIVERY_QUEUE_URL="$AWS_ENDPOINT_URL/123456789012/DeliveryQueue"
export REPLY_QUEUE_URL="$AWS_ENDPOINT_URL/123456789012/ReplyQueue"
export EXECUTIONS_QUEUE_URL="$AWS_ENDPOINT_URL/123456789012/ExecutionsQueue"
export CALLS_QUEUE_URL="$AWS_ENDPOINT_URL/123456789012/CallsQueue"
# Twilio signs the URL it called: here, this stack's own.
export PUBLIC_BASE_URL="http://127.0.0.1:$API_PORT"
export ATTACHMENTS_BUCKET=attachmentsbucket S3_FORCE_PATH_STYLE=true

echo "== waiting for the build"
if ! wait "$build"; then
  cat .local/build.log >&2
  echo "the build failed" >&2
  exit 1
fi
build_ms=$(($(now_ms) - build_began))
echo "== creating the resources of template.yaml"
./target/debug/hookgate-admin provision --template template.yaml
echo "== creating the demo organization"
bootstrap=$(./target/debug/hookgate-admin bootstrap --org-name "Demo shop" --rate-limit-per-minute 1000)
echo "$bootstrap"
key=$(echo "$bootstrap" | grep -o 'hg_live_[a-z0-9_]*')

echo "== serving the functions on http://127.0.0.1:$API_PORT (log: .local/watch.log)"
# --disable-cors: the functions answer CORS themselves, as behind API Gateway (which has no CORS
# configuration in template.yaml and routes OPTIONS to them).
cargo lambda watch --disable-cors -A 127.0.0.1 -P "$API_PORT" >.local/watch.log 2>&1 &
started+=($!)
for _ in $(seq 1 300); do port_busy "$API_PORT" && break; sleep 0.2; done
# Time to first answer: from `make dev` until a route answers through the local API, the
# function started by `cargo lambda watch`.
answered=false
for _ in $(seq 1 600); do
  curl -sf -o /dev/null "http://127.0.0.1:$API_PORT/api/health" && answered=true && break
  sleep 0.2
done
if [ "$answered" != true ]; then
  tail -n 40 .local/watch.log >&2
  echo "GET /api/health did not answer 200 (healthy) through http://127.0.0.1:$API_PORT within two minutes;" \
    "above, the end of .local/watch.log (each AWS service the health check could not reach is named there)" >&2
  exit 1
fi
first_answer_ms=$(($(now_ms) - started_at))

echo "== feeding the delivery queue to the delivery worker (log: .local/poller.log)"
./target/debug/hookgate-admin poll-queue --queue-url "$DELIVERY_QUEUE_URL" --function delivery-worker \
  --invoke-url "http://127.0.0.1:$API_PORT" >.local/poller.log 2>&1 &
started+=($!)

echo "== feeding the reply queue to the reply sender (log: .local/reply-poller.log)"
./target/debug/hookgate-admin poll-queue --queue-url "$REPLY_QUEUE_URL" --function reply-sender \
  --invoke-url "http://127.0.0.1:$API_PORT" >.local/reply-poller.log 2>&1 &
started+=($!)

echo "== the demo agent and workflow runtime on the executions queue (log: .local/runtime.log)"
HOOKGATE_API_KEY="$key" ./target/debug/hookgate-admin demo-runtime --queue-url "$EXECUTIONS_QUEUE_URL" \
  --api-url "http://127.0.0.1:$API_PORT" >.local/runtime.log 2>&1 &
started+=($!)

echo "== running the SLA job every minute, as its EventBridge schedule does (log: .local/schedule.log)"
./target/debug/hookgate-admin schedule --function sla-breaches --every-seconds 60 \
  --invoke-url "http://127.0.0.1:$API_PORT" >.local/schedule.log 2>&1 &
started+=($!)

cat <<MSG

Hookgate is running. Try:

  curl -s http://127.0.0.1:$API_PORT/api/health
  curl -s -X POST http://127.0.0.1:$API_PORT/api/webhook \\
    -H "Content-Type: application/json" -H "x-api-key: $key" \\
    -d '{"type": "order", "order": {"order_number": "4521", "status": "shipped", "customer_email": "max@example.com"}}'
  curl -s http://127.0.0.1:$API_PORT/api/context/orders/4521 -H "x-api-key: $key"

Subscribe a receiver to outbound events (http and 127.0.0.0/8 are allowed locally only):

  curl -s -X POST http://127.0.0.1:$API_PORT/api/v1/webhooks \
    -H "Content-Type: application/json" -H "x-api-key: $key" \
    -d '{"name": "Local receiver", "url": "http://127.0.0.1:8080/hooks", "events": ["order.upserted"]}'

Start a workflow with a trigger (the demo runtime reports on it: subscribe a receiver to
workflow.execution.completed to see the event):

  token=\$(curl -s -X POST http://127.0.0.1:$API_PORT/api/v1/triggers -H "Content-Type: application/json" \\
    -H "x-api-key: $key" -d '{"name": "Contact form", "workflow_id": "wf_demo"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
  curl -s -X POST "http://127.0.0.1:$API_PORT/webhooks/workflows/wf_demo?token=\$token" \\
    -H "Content-Type: application/json" -d '{"input_data": {"name": "John Doe"}}'
  curl -s "http://127.0.0.1:$API_PORT/api/v1/executions?workflow_id=wf_demo" -H "x-api-key: $key"

The first request to each function starts it (under a second). Ctrl-C stops everything.
MSG
echo "== time to first answer: $((first_answer_ms / 1000)) s from \`make dev\` to GET /api/health answering" \
  "(the build $((build_ms / 1000)) s, the tools' install $((tools_ms / 1000)) s during it)"
wait
