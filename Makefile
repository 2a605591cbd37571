# Lifeboat - build, test and demo.
#
#   make deps      install every Debian package the build, tests, e2e and demo need
#   make           build bin/lifeboat-operator and bin/lifeboat-agent
#   make test      deps + build + unit tests + e2e (contract tests, scenarios);
#                  the last line printed is "N passed, N failed"
#   make unit      unit tests (cmocka);  make unit UNIT=cron  runs one
#   make e2e       the end-to-end suites against kubesim and awssim
#   make demo      brings the local environment up and runs the demo
#   make lint      clang-format check, clang-tidy, cppcheck
#   make fuzz      libFuzzer targets (clang), FUZZ_SECONDS each
#   make bench     measurements (figures and ratios, never pass/fail on time)
#   SANITIZE=1     build everything with AddressSanitizer + UndefinedBehaviorSanitizer

SHELL := /bin/bash
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SECONDARY:

SANITIZE ?= 0
UNIT ?=
FUZZ_SECONDS ?= 60
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)

ifeq ($(SANITIZE),1)
BUILD := build-san
BINDIR := build-san/bin
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD := build
BINDIR := bin
SANFLAGS :=
endif

# Debian packages (DESIGN.md section 1, plus what the tests and the e2e environment run).
DEBIAN_PACKAGES := build-essential pkg-config clang libclang-rt-14-dev clang-format clang-tidy \
	cppcheck libcurl4-openssl-dev libssl-dev libjansson-dev libyaml-dev libwebsockets-dev \
	libpq-dev libxml2-dev libyajl-dev libcmocka-dev postgresql-15 postgresql-client-15 redis-server \
	redis-tools openssl jq curl util-linux procps iproute2 tzdata git bsdextrautils time \
	zlib1g-dev libarchive-dev lua5.4 prometheus
PKGCONFIG_MODULES := libcurl jansson yajl yaml-0.1 libwebsockets libpq libxml-2.0 openssl zlib libarchive
# The machine's Python (TESTENV.md) carries moto; checked, not installed.
MOTO_VERSION := 5.2.1
KUBECTL_MINOR := 32

# Lazily evaluated: pkg-config only works once `make deps` has run.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGCONFIG_MODULES))
PKG_LIBS = $(shell pkg-config --libs $(PKGCONFIG_MODULES)) -lpthread -lm

CC := gcc
WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 -Wvla
CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 $(WARNINGS) -Ipkg -MMD -MP $(SANFLAGS)
LDFLAGS := $(SANFLAGS)

LIB_SRCS := $(shell find pkg -name '*.c' | sort)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/liblifeboat.a
CMDS := lifeboat-operator lifeboat-agent kubectl-lifeboat
BINS := $(CMDS:%=$(BINDIR)/%)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# C programs that e2e suites run against the live kubesim/awssim (LIFEBOAT_BUILD_DIR).
IT_SRCS := $(sort $(wildcard tests/integration/*.c))
IT_BINS := $(IT_SRCS:tests/integration/%.c=$(BUILD)/tests/integration/%)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
RESULTS = $(BUILD)/results.txt

.PHONY: all deps test unit e2e demo lint fuzz bench clean controlplane krew

# The real Kubernetes control plane for the e2e suites (e2e/controlplane/README.md):
# one Go binary built from pinned modules through the Go module proxy. Rebuilt only when
# its sources change; Go's build cache (~/.cache/go-build) makes a rebuild quick.
GO ?= $(firstword $(wildcard /usr/local/go/bin/go) $(shell command -v go 2>/dev/null))
CONTROLPLANE_BIN := build/controlplane/lifeboat-controlplane
CONTROLPLANE_SRCS := $(wildcard e2e/controlplane/*.go) e2e/controlplane/go.mod e2e/controlplane/go.sum
# /version must say v1.32.13 (kubectl's dispatcher picks its minor from it); link-time only
CONTROLPLANE_VERSION := v1.32.13
CONTROLPLANE_LDFLAGS := $(foreach p,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	-X $(p).gitVersion=$(CONTROLPLANE_VERSION) -X $(p).gitMajor=1 -X $(p).gitMinor=32 \
	-X $(p).gitTreeState=clean -X $(p).buildDate=2026-01-01T00:00:00Z)

all: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/cmd/%.o: CFLAGS += -DLIFEBOAT_VERSION='"$(VERSION)"'

$(LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

$(BINDIR)/%: $(BUILD)/cmd/%/main.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(LIB) $(PKG_LIBS) -lcmocka $(LDFLAGS)

$(BUILD)/tests/integration/%: tests/integration/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(LIB) $(PKG_LIBS) $(LDFLAGS)

# every object and program, the commands' main.o included (a header change rebuilds them)
-include $(LIB_OBJS:.o=.d) $(CMDS:%=$(BUILD)/cmd/%/main.d) $(UNIT_BINS:=.d) $(IT_BINS:=.d)

# ---- dependencies -------------------------------------------------------------------

deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing" $$missing; \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing \
			|| { echo "deps: apt-get install failed" >&2; exit 1; }; \
	fi
	@python3 -c 'import moto, sys; sys.exit(0 if moto.__version__ == "$(MOTO_VERSION)" else \
		"deps: moto $(MOTO_VERSION) is required, found " + moto.__version__)' \
		|| { echo "deps: the machine's python3 must carry moto $(MOTO_VERSION) (TESTENV.md)" >&2; exit 1; }
	@python3 -c 'import yaml, jsonpatch, jsonschema' \
		|| { echo "deps: python3 needs PyYAML, jsonpatch and jsonschema (TESTENV.md)" >&2; exit 1; }
	@command -v aws >/dev/null || { echo "deps: the aws CLI is required (TESTENV.md)" >&2; exit 1; }
	@command -v kubectl >/dev/null || { echo "deps: kubectl 1.$(KUBECTL_MINOR) is required (TESTENV.md)" >&2; exit 1; }
	@$(MAKE) --no-print-directory controlplane $(KREW_TOOLS)
	@echo "deps: ok"

# krew and its manifest validator (pinned), for e2e/plugin's test of deploy/krew.
KREW_VERSION := v0.4.3
KREW_TOOLS := build/tools/krew build/tools/validate-krew-manifest
$(KREW_TOOLS):
	@[ -x "$(GO)" ] || { echo "deps: Go is required at /usr/local/go (TESTENV.md)" >&2; exit 1; }
	@mkdir -p $(@D)
	@echo "deps: building $(@F) $(KREW_VERSION) from sigs.k8s.io/krew"
	@GOBIN=$(abspath $(@D)) "$(GO)" install sigs.k8s.io/krew/cmd/$(@F)@$(KREW_VERSION)

# The krew package of kubectl-lifeboat: build/krew/{kubectl-lifeboat_linux_amd64.tar.gz,lifeboat.yaml}.
KREW_PLUGIN_VERSION ?= v0.1.0
krew: all
	deploy/krew/package.sh $(KREW_PLUGIN_VERSION) build/krew

controlplane: $(CONTROLPLANE_BIN)

$(CONTROLPLANE_BIN): $(CONTROLPLANE_SRCS)
	@[ -x "$(GO)" ] || { echo "deps: Go is required at /usr/local/go (TESTENV.md)" >&2; exit 1; }
	@mkdir -p $(@D)
	@echo "deps: building the control plane (the first build takes minutes; see e2e/controlplane/README.md)"
	@start=$$(date +%s); cd e2e/controlplane && GOFLAGS=-mod=readonly "$(GO)" build -ldflags "$(CONTROLPLANE_LDFLAGS)" \
		-o $(abspath $@).tmp . && mv $(abspath $@).tmp $(abspath $@) && \
		echo "deps: control plane built in $$(( $$(date +%s) - start )) s"

# ---- tests --------------------------------------------------------------------------

# Unit suites print TAP through cmocka; tap-run counts them into $(RESULTS).
unit: $(UNIT_BINS)
	@mkdir -p $(BUILD)
	@rc=0; for t in $(if $(UNIT),$(BUILD)/tests/test_$(UNIT),$(UNIT_BINS)); do \
		CMOCKA_MESSAGE_OUTPUT=TAP ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			tests/tap-run $(RESULTS) unit:$${t##*/} $$t || rc=1; \
	done; exit $$rc

e2e: all $(IT_BINS)
	@mkdir -p $(BUILD)
	LIFEBOAT_BIN_DIR=$(abspath $(BINDIR)) LIFEBOAT_BUILD_DIR=$(abspath $(BUILD)) \
		e2e/run-suites.sh $(abspath $(RESULTS))

# Everything, from a fresh machine. Each stage records its suites in $(RESULTS); a
# stage that cannot run (a failed build, say) leaves its suites missing, and tap-total
# counts a missing suite as a failure. The last line is "N passed, N failed".
test:
	@$(MAKE) --no-print-directory deps
	@mkdir -p $(BUILD) && rm -f $(RESULTS)
	@rc=0; \
	$(MAKE) --no-print-directory -j$$(nproc) all $(UNIT_BINS) $(IT_BINS) || rc=1; \
	$(MAKE) --no-print-directory unit || rc=1; \
	$(MAKE) --no-print-directory e2e || rc=1; \
	tests/tap-total $(RESULTS) $(UNIT_SRCS:tests/unit/%.c=unit:%) $$(e2e/run-suites.sh --list) \
		|| rc=1; \
	exit $$rc

demo: deps all
	e2e/demo.sh

# ---- quality ------------------------------------------------------------------------

C_FILES := $(shell find cmd pkg tests -name '*.[ch]' | sort)

lint:
	clang-format --dry-run -Werror $(C_FILES)
	clang-tidy --quiet $(LIB_SRCS) $(wildcard cmd/*/main.c) -- -std=c11 -D_GNU_SOURCE -Ipkg $(PKG_CFLAGS)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
		--inline-suppr --suppress=missingIncludeSystem -Ipkg $(LIB_SRCS) $(wildcard cmd/*/main.c)

FUZZ_BUILD := build-fuzz
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Ipkg -fsanitize=fuzzer,address,undefined

fuzz:
	@mkdir -p $(FUZZ_BUILD)
	@set -e; for f in $(FUZZ_SRCS); do \
		n=$$(basename $$f .c); \
		echo "fuzz: building $$n"; \
		clang $(FUZZ_CFLAGS) $(PKG_CFLAGS) -o $(FUZZ_BUILD)/$$n $$f $(LIB_SRCS) $(PKG_LIBS); \
		mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
		[ -d tests/fuzz/corpus/$$n ] && cp -n tests/fuzz/corpus/$$n/* $(FUZZ_BUILD)/corpus/$$n/ 2>/dev/null || true; \
		echo "fuzz: running $$n for $(FUZZ_SECONDS)s"; \
		$(FUZZ_BUILD)/$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(FUZZ_BUILD)/corpus/$$n; \
	done

bench: all $(IT_BINS)
	e2e/bench.sh

clean:
	rm -rf build build-san build-fuzz bin
