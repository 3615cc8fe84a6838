# efsearch: the two commands a fresh machine needs are `make run` and `make test`.
SWIFT ?= swift
DEBIAN_PACKAGES := libopenblas-dev libgsl-dev libsqlite3-dev libpq-dev libssl-dev zlib1g-dev libjpeg62-turbo-dev libpng-dev
# What the tests need beyond the build: a headless browser for the report check, a PostgreSQL server for the store tests.
TEST_PACKAGES := chromium postgresql
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Installs those of the Debian packages $(1) that are missing.
define install-missing
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi
endef

.PHONY: run test deps testdeps pydeps build bench golden check-onnx check-report check-infer check-docs check-run clean

## Installs the Debian packages that are missing (OpenBLAS, GSL, SQLite, libpq, zlib, libjpeg-turbo and libpng headers).
deps:
	$(call install-missing,$(DEBIAN_PACKAGES))

## Installs the Debian packages the tests need beyond the build (headless Chromium, the PostgreSQL server).
testdeps: deps
	$(call install-missing,$(TEST_PACKAGES))

build: deps
	$(SWIFT) build -c release

## The main job on the built-in default data: a short architecture search on the synthetic dataset, stored in
## results/efsearch.sqlite; it prints the run's Pareto frontier, writes the run's report and exports into
## notebooks-export/RUN/, and says what to do next.
RUN_NAME := demo-$(shell date -u +%Y%m%d-%H%M%S)
run: build
	.build/release/efsearch nas --space searchspaces/tiny.yaml --strategy bo --budget 12 --objectives accuracy,macs --seed 0 --run $(RUN_NAME)
	@.build/release/efsearch report $(RUN_NAME)
	@.build/release/efsearch export $(RUN_NAME)
	@echo "next: open notebooks-export/$(RUN_NAME)/report.html in a browser"
	@echo "      .build/release/efsearch --help                      (every command, with examples)"
	@echo "      search your own images: --dataset folder:DIR --keep-checkpoints, then efsearch onnx --run NAME --id ID (docs/training.md, docs/deployment.md)"

## Python packages for the checks against reference implementations (ONNX Runtime, Pillow).
pydeps:
	python3 -m pip install --quiet --disable-pip-version-check onnx onnxruntime numpy pillow

## ONNX export against ONNX Runtime: every preset and 20 random arch strings (needs the release build).
check-onnx: build pydeps
	python3 scripts/check_onnx.py

## Reports in headless Chromium: no script error, one mark per candidate, the stored frontier (needs the release build).
check-report: build testdeps
	python3 scripts/check_report.py --screenshots results/screenshots

## The whole test suite in release mode, then again in a debug build so that preconditions (the release Engine is
## built -Ounchecked), exclusivity checks and `#if DEBUG` invariants run on every path the tests take, the
## command-line suite's searches, workers, successive halving and calibration included (the numeric layers are
## built -O in debug too, with their preconditions: see Package.swift).
## Then the docs check (every link resolves, every command block marked runnable in README.md and docs/ runs) and
## the checks against a real browser, ONNX Runtime and Pillow, with the binary the release pass built (a separate
## `swift build -c release` would compile everything again without testability).
## Both passes run beside a throwaway PostgreSQL server (scripts/with_postgres.sh starts it on a free port and removes
## it afterwards, whatever the outcome): the store tests run against SQLite and PostgreSQL with the same code.
test: testdeps pydeps
	scripts/with_postgres.sh $(SWIFT) test -c release
	scripts/with_postgres.sh $(SWIFT) test
	python3 scripts/check_docs.py
	python3 scripts/check_report.py --screenshots results/screenshots
	python3 scripts/check_onnx.py
	python3 scripts/check_infer.py
	$(MAKE) check-run

## The front door as a new user meets it: `make run`, then its report in headless Chromium (one mark per
## candidate, the stored frontier, no script error) and its exports on disk.
CHECK_RUN := check-run-$(shell date -u +%Y%m%d-%H%M%S)
check-run:
	$(MAKE) run RUN_NAME=$(CHECK_RUN)
	python3 scripts/check_report.py --store results/efsearch.sqlite --run $(CHECK_RUN)
	@for f in report.html candidates.csv frontier.csv run.json; do \
		test -s notebooks-export/$(CHECK_RUN)/$$f || { echo "make run wrote no notebooks-export/$(CHECK_RUN)/$$f"; exit 1; }; \
	done
	@echo "make run: report and exports of $(CHECK_RUN) checked"

## `infer --image` against the documented preprocessing in Pillow and numpy (needs the release build).
check-infer: build pydeps
	python3 scripts/check_infer.py

## Benchmarks print figures; they assert nothing.
bench: build
	$(SWIFT) run -c release efsearch-benchmarks

## Regenerates the timm golden fixtures (needs torch and timm from PyPI; the tests never do).
golden: build
	python3 scripts/make_cost_golden.py
	python3 scripts/make_engine_golden.py
	python3 scripts/make_zero_cost_golden.py

clean:
	rm -rf .build

## README.md and docs/: links resolve and the command blocks marked runnable run (needs the release build).
check-docs: build
	python3 scripts/check_docs.py
