# The two commands: `make dev` (run the API locally) and `make test` (everything CI runs).
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
FN ?= health
EVENT ?= events/health/liveness.json

.PHONY: help dev test build invoke deploy lint fmt bench clean admin mail fuzz-api package

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

dev: ## Install tools, start the emulator, bootstrap, serve every function on 127.0.0.1:9000
	@bash infra/scripts/dev.sh

test: ## fmt, clippy, cfn-lint, all tests against a fresh emulator, watch smoke test
	@bash infra/scripts/test.sh

build: ## Release build of every function (arm64, or x86_64 if the target cannot be added)
	@bash infra/scripts/build.sh

# The event goes straight to watch's invoke API, not through the local gateway on API_PORT (which
# serves only the template's routes): watch's port is the `-P` on the command line of the watch
# `make dev` started, whose pid is in the run directory.
invoke: ## Send EVENT to FN through a running `make dev`: make invoke FN=health EVENT=events/health/liveness.json
	@source infra/scripts/lib.sh && ensure_venv && \
	  pid="$$(cat "$$RUN_DIR/watch.pid" 2>/dev/null)"; \
	  port="$$(tr '\0' '\n' < "/proc/$${pid:-none}/cmdline" 2>/dev/null | sed -n '/^-P$$/{n;p;q}')"; \
	  [[ -n "$$port" ]] || die "no running make dev (watch's pid file: $$RUN_DIR/watch.pid)"; \
	  "$(VENV)/bin/cargo-lambda" lambda invoke --invoke-address 127.0.0.1 --invoke-port "$$port" \
	    --data-file "$(EVENT)" "$(FN)"

admin: ## Create or promote an admin: make admin EMAIL=you@example.com PASSWORD='a long passphrase' [AWS=1]
	@bash infra/scripts/admin.sh

mail: ## Print the latest mails the local emulator accepted: make mail [TO=address]
	@source infra/scripts/lib.sh && ensure_venv && "$(VENV)/bin/python" infra/local/mail.py \
	  --endpoint http://127.0.0.1:$${MOTO_PORT:-5000} $(if $(TO),--to "$(TO)")

package: ## sam build (arm64, cargo-lambda): the deployment packages under .aws-sam/build, offline
	@source infra/scripts/lib.sh && ensure_venv && PATH="$$PWD/$(VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 \
	  "$(VENV)/bin/sam" build --beta-features && du -sh .aws-sam/build/*Function

deploy: ## sam build && sam deploy (needs the SAM CLI and AWS credentials; not run here)
	sam build --beta-features && sam deploy

# --all-targets leaves out a target with test = false: the smoke checks are linted by name.
lint: ## Formatting, clippy and cfn-lint only
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p e2e --test smoke -- -D warnings
	@source infra/scripts/lib.sh && ensure_venv && "$(VENV)/bin/cfn-lint" template.yaml

fmt: ## Format the code
	cargo fmt --all

fuzz-api: ## schemathesis against a fresh local stack, deep budget: make fuzz-api [EXAMPLES=200] [SEED=..]
	@bash infra/scripts/fuzz.sh

bench: ## Measure release builds here: make bench [MODE=cpu,init,size,auth] [QUICK=1] [ONLY=health,users]; figures in target/bench/results.md
	@bash infra/scripts/bench.sh

clean: ## Remove build output: target/ (bench results too) and .aws-sam/; keeps .venv (the emulator keeps nothing on disk)
	cargo clean
	rm -rf .aws-sam
