# plinth: one binary, one Makefile. `make test` is the test command of the
# README and of CI.

GO ?= go
# Counted in executions, not seconds: a time limit can cut a slow target off
# mid-input, which the fuzzer reports as a failure ("context deadline
# exceeded").
FUZZTIME ?= 50000x

.PHONY: build test vet fuzz bench demo services clean

build:
	$(GO) build -o plinth ./cmd/plinth

# Unit, contract and end-to-end tests. The PostgreSQL and S3 runs need
# PLINTH_TEST_POSTGRES and versitygw (see `make services`); without them
# they skip locally and fail in CI.
test: vet
	$(GO) test -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }

# Every fuzz target, briefly. Seed corpora live in testdata/fuzz.
fuzz:
	@$(GO) list -f '{{.ImportPath}} {{.Dir}}' ./... | while read pkg dir; do \
	  for target in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "fuzz $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchtime 10x ./cmd/plinth/ ./sqlstore/ ./server/
	$(GO) test -run '^$$' -bench TrainingSet -benchtime 3x ./duckdb/

demo: build
	./plinth demo

# Start what the integration tests need and print the environment to use.
services:
	@echo "export PLINTH_TEST_POSTGRES='$$(scripts/postgres.sh)'"
	@scripts/install-versitygw.sh >&2
	@scripts/redis.sh >&2
	@scripts/nats.sh >&2

clean:
	rm -f plinth
