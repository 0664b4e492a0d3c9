# oneoff — build, demo and test. `make demo` and `make test` are all a fresh
# machine needs: they install the C client libraries the database drivers
# link against (Debian packages) and start the local database servers when
# they are installed but stopped.

CARGO      ?= cargo
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# libpq is compiled in (the bundled-libpq feature) against OpenSSL: libssl-dev,
# not libpq-dev (which `cargo build --no-default-features` needs instead).
DEB_PKGS   := libmariadb-dev-compat libssl-dev libsqlite3-dev pkg-config
DEMO_DIR   := target/demo
ONEOFF     := target/release/oneoff

.PHONY: all deps services build demo test torture bench lint fmt clean man completions

all: build

## Install the -dev packages diesel's drivers link against, when missing.
deps:
	@missing=""; \
	if command -v dpkg >/dev/null 2>&1; then \
	  for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  fi; \
	else \
	  echo "not a Debian system: install the PostgreSQL, MySQL/MariaDB and SQLite client libraries yourself"; \
	fi

## Start PostgreSQL and MariaDB when they are installed here but not running.
services:
	@if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then \
	  echo "starting PostgreSQL"; \
	  $(SUDO) pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start || true; \
	fi
	@if [ -x /usr/sbin/mariadbd ] && ! mariadb-admin -uroot -h127.0.0.1 --connect-timeout=2 ping >/dev/null 2>&1; then \
	  echo "starting MariaDB"; \
	  $(SUDO) start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true; \
	  for i in $$(seq 1 30); do mariadb-admin -uroot -h127.0.0.1 --connect-timeout=2 ping >/dev/null 2>&1 && break; sleep 1; done; \
	fi
	@for i in $$(seq 1 30); do ! command -v pg_isready >/dev/null 2>&1 || pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done

build: deps
	$(CARGO) build --release

## Run the tool on an embedded SQLite database with the example scripts in one_off/.
demo: build
	@rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	@export DATABASE_URL=sqlite://$(DEMO_DIR)/demo.db ONEOFF_DIR=one_off; \
	set -e; \
	echo; echo "\$$ oneoff check                   # every problem in the scripts, before anything runs"; $(ONEOFF) check; \
	echo; echo "\$$ oneoff status                  # nothing has run yet"; $(ONEOFF) status; \
	echo; echo "\$$ oneoff run --dry-run           # execute, report, roll back"; $(ONEOFF) run --dry-run; \
	echo; echo "\$$ oneoff run                     # run each pending script exactly once"; $(ONEOFF) run; \
	echo; echo "\$$ oneoff status"; $(ONEOFF) status; \
	echo; echo "\$$ oneoff run                     # a second run has nothing to do"; $(ONEOFF) run; \
	echo; echo "The demo database is $(DEMO_DIR)/demo.db; try: DATABASE_URL=sqlite://$(DEMO_DIR)/demo.db $(ONEOFF) status --json"

## Every test: unit tests, and the real binary against SQLite, PostgreSQL and MySQL.
test: deps services
	$(CARGO) build -p oneoff-example-app
	$(CARGO) test

## The man page and the shell completions, generated from the clap definitions.
man: build
	mkdir -p target/man
	$(ONEOFF) man > target/man/oneoff.1
	@echo "target/man/oneoff.1 (read it with: man -l target/man/oneoff.1)"

completions: build
	mkdir -p target/completions
	for shell in bash zsh fish powershell; do $(ONEOFF) completions $$shell > target/completions/oneoff.$$shell; done

lint: deps
	$(CARGO) fmt --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

clean:
	$(CARGO) clean

## Fault injection at full size: 200 random kills per backend, 8 runners over
## 100 scripts, killed lock holders; prints the table of figures.
torture: deps services
	@rm -f target/torture-report.tsv
	ONEOFF_TORTURE_TRIALS=200 $(CARGO) test --test cli torture -- --test-threads=3
	@printf '\n%-9s %-22s %7s %6s %8s %8s %6s %8s %14s\n' backend scenario trials kills scripts doubles lost running max_lock_wait_ms
	@sort target/torture-report.tsv | awk -F'\t' '{ printf "%-9s %-22s %7s %6s %8s %8s %6s %8s %14s\n", $$1, $$2, $$3, $$4, $$5, $$6, $$7, $$8, $$9 }'

## Benchmarks, on SQLite and PostgreSQL: a 1,000,000-row backfill in batches,
## oneoff vs a bare loop (rows per second and the ratio); and start-up: apply,
## no-op run and status of 1,000 and 10,000 trivial scripts (median seconds,
## peak RSS).
bench: deps services
	$(CARGO) bench --bench backfill
	$(CARGO) bench --bench startup
	$(CARGO) bench --bench revertible
