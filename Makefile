# kldload: one command runs exactly what CI runs (`make ci`).
SHELL := /bin/bash
.DEFAULT_GOAL := help
CONFIG ?= Release
RESULTS ?= artifacts/test-results
# Local runs may skip slow tiers: make test FILTER='Tier!=Qemu'
FILTER ?=

.PHONY: help deps restore build format test ci run clean image demo deb

help:
	@echo "make run     run kldload serve with the embedded defaults"
	@echo "make ci      what CI runs: deps, restore, build (warnings are errors), format check, every test"
	@echo "make test    every test (FILTER='Tier!=Qemu' to skip a tier locally)"
	@echo "make image   the live image (kernel, initrd, manifest.json) in out/image"
	@echo "make demo    kldload + one QEMU node in a private namespace"
	@echo "make deb     the Debian package in out/deb (self-contained: no .NET on the target)"

deps:
	@if [ "$$(id -u)" = 0 ]; then scripts/install-deps.sh; else sudo scripts/install-deps.sh; fi

restore:
	dotnet restore Kldload.sln

build: restore
	dotnet build Kldload.sln --no-restore -c $(CONFIG) -warnaserror

format: restore
	dotnet format Kldload.sln --verify-no-changes --no-restore

test: build
	rm -rf $(RESULTS)
	dotnet test Kldload.sln --no-build -c $(CONFIG) --results-directory $(RESULTS) \
	  --logger "trx" --logger "console;verbosity=minimal" $(if $(FILTER),--filter "$(FILTER)") ; \
	  rc=$$?; scripts/test-summary.sh $(RESULTS); exit $$rc

ci: deps build format test

image:
	images/build.sh

demo:
	@[ -f out/image/manifest.json ] || images/build.sh
	images/demo.sh

deb:
	scripts/build-deb.sh out/deb

run:
	dotnet run --project src/Provisioner -- serve

clean:
	dotnet clean Kldload.sln
	rm -rf artifacts
