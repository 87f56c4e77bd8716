# Hookgate: `make dev` runs the whole stack locally, `make test` runs every check and test.
.PHONY: tools dev test bench

tools:
	@bash infra/install-tools.sh

dev: tools
	@bash infra/dev.sh

test: tools
	@bash infra/test.sh

bench: tools
	@bash infra/bench.sh
