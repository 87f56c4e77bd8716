# Hookgate: `make dev` runs the whole stack locally, `make test` runs every check and test,
# `make fuzz` fuzzes every parser of untrusted bytes for a bounded time.
.PHONY: tools dev test bench fuzz

tools:
	@bash infra/install-tools.sh

dev: tools
	@bash infra/dev.sh

test: tools
	@bash infra/test.sh

bench: tools
	@bash infra/bench.sh

fuzz:
	@bash infra/fuzz.sh
