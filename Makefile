# Developer and CI entry points. `make test` is what CI runs (see .ci/run); the system suite needs root.

# rustup installs cargo under ~/.cargo/bin; a fresh login shell may not have it on PATH yet.
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo
# Optional substring of system scenario names (`make system FILTER=apps`) or of benchmark
# parts (`make bench FILTER=sleep`: dynos, addons, backups, sleep, metrics, dashboard).
FILTER ?=

.PHONY: prereqs build deb lint unit system test try bench
# cargo parallelises on its own; serial make keeps `test` in the order lint, unit, system.
.NOTPARALLEL:

# Host tools the targets below need (debootstrap, systemd-nspawn, lintian, cargo-deb, …): installs
# only what is missing, so it is quick once done. `test`, `try` and `bench` run it first.
prereqs:
	bash .ci/prereqs

build:
	$(CARGO) build --release

# The release binaries, then the manual pages and completions rendered from their clap
# definitions (the package ships them), then the package.
deb:
	$(CARGO) build --release --bins
	rm -rf target/manuals && target/release/skiff-manuals target/manuals
	gzip -9n < debian/changelog > target/manuals/changelog.gz
	$(CARGO) deb --no-build

# clippy twice: every target (the tests turn the test-only `fakes` feature on), then the shipped
# library and binaries without it.
lint: deb
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --lib --bins -- -D warnings
	deb=$$(ls -t target/debian/skiff_*_*.deb | head -n 1) && lintian --fail-on error,warning "$$deb"

# Unit tests and in-process integration tests (the system suite is `test = false` in Cargo.toml).
unit:
	$(CARGO) test

# Boots a Debian container per scenario with the .deb installed; needs root.
system: deb
	$(CARGO) test --release --test system -- $(FILTER)

test: prereqs lint unit system

# A throwaway container with skiff installed and a shell in it; `exit` discards it.
try: prereqs deb
	$(CARGO) test --release --test system -- --try

# Figures, not pass/fail: dyno start vs a bare transient unit, scaling 0 → 50 → 0, skiffd's RSS and
# idle CPU, all measured in one booted container. Needs root.
bench: prereqs deb
	$(CARGO) test --release --test system -- --bench $(FILTER)
