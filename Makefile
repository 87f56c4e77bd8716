# Hookgate: `make dev` runs the whole stack locally, `make test` runs every check and test,
# `make soak` the fault tests that take minutes.
.PHONY: tools dev test soak bench

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
