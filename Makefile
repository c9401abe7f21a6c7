# Entry points (see README.md). Every target installs what it needs on a fresh machine.
SHELL := /bin/bash
SWIFT ?= swift
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
NODES ?= 3
NAME ?= todo1
HTTP_PORT ?= 5454
CONNECT ?=

.PHONY: deps test-deps lb-deps bench-deps build test bench cluster node lb stop

# System packages: libzmq3-dev (the transport), libsqlite3-dev (each node's database),
# curl for the cluster scripts and the tests; wrk and Erlang/OTP (issue 12's reference) for
# the benchmarks.
deps:
	@missing=""; \
	[ -f /usr/include/zmq.h ] || missing="$$missing libzmq3-dev"; \
	[ -f /usr/include/sqlite3.h ] || missing="$$missing libsqlite3-dev"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v python3 >/dev/null || missing="$$missing python3"; \
	$(call install,$$missing)

# iproute2 for the partition test's network namespaces, haproxy for the `make lb` test.
test-deps: deps
	@missing=""; command -v ip >/dev/null || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing="iproute2"; \
	command -v haproxy >/dev/null || missing="$$missing haproxy"; \
	$(call install,$$missing)

lb-deps: deps
	@missing=""; command -v haproxy >/dev/null || missing="haproxy"; $(call install,$$missing)

bench-deps: deps
	@missing=""; command -v wrk >/dev/null || missing="wrk"; \
	command -v erl >/dev/null && command -v erlc >/dev/null || missing="$$missing erlang-base"; \
	$(call install,$$missing)

# Installs the packages named in $(1), if any, through apt-get.
define install
	if [ -n "$(1)" ]; then \
		echo "installing: $(1)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(1) >/dev/null; \
	fi
endef

build: deps
	$(SWIFT) build -c release --product todo-node
	$(SWIFT) build -c release --product todo

# The whole suite; the end-to-end tests run the debug binaries, which `swift build` makes.
test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

bench: bench-deps
	$(SWIFT) build -c release --product todo-node
	$(SWIFT) build -c release --product todo-bench
	.build/release/todo-bench

cluster: build
	@scripts/cluster.sh start $(NODES)

node: build
	.build/release/todo-node --name $(NAME)@localhost --http-port $(HTTP_PORT) $(if $(CONNECT),--connect $(CONNECT))

# haproxy on port 8080 in front of the nodes `make cluster` started (health checks on /health).
lb: lb-deps
	@scripts/lb.sh start $(NODES)

stop:
	@scripts/lb.sh stop
	@scripts/cluster.sh stop
