# Hookgate: `make dev` runs the whole stack locally, `make test` runs every check and test,
# `make soak` the fault tests that take minutes, `make fuzz` fuzzes every parser of untrusted
# bytes for a bounded time.
.PHONY: tools dev test soak bench fuzz

tools:
	@bash infra/install-tools.sh

# dev.sh installs the tools it needs while it builds. The start is passed on so that it prints
# the time to first answer from here.
dev:
	@HOOKGATE_DEV_STARTED_MS=$$(date +%s%3N) && export HOOKGATE_DEV_STARTED_MS && bash infra/dev.sh

test: tools
	@bash infra/test.sh

soak: tools
	@bash infra/soak.sh

bench: tools
	@bash infra/bench.sh

fuzz:
	@bash infra/fuzz.sh
