# Hookgate: `make dev` runs the whole stack locally, `make test` runs every check and test,
# `make soak` the fault tests that take minutes, `make fuzz` fuzzes every parser of untrusted
# bytes for a bounded time.
.PHONY: tools dev test soak bench fuzz

tools:
	@bash infra/install-tools.sh

dev: tools
	@bash infra/dev.sh

test: tools
	@bash infra/test.sh

soak: tools
	@bash infra/soak.sh

bench: tools
	@bash infra/bench.sh

fuzz:
	@bash infra/fuzz.sh
