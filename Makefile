# Entry points (see README.md). Every target installs what it needs on a fresh machine.
SHELL := /bin/bash
SWIFT ?= swift
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
NODES ?= 3
NAME ?= todo1
HTTP_PORT ?= 5454
CONNECT ?=

.PHONY: deps build test bench cluster node stop

# System packages: libzmq3-dev (the transport), curl and python3 for the cluster scripts.
deps:
	@if [ ! -f /usr/include/zmq.h ] || ! command -v curl >/dev/null; then \
		echo "installing libzmq3-dev and curl"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libzmq3-dev curl >/dev/null; \
	fi

build: deps
	$(SWIFT) build -c release --product todo-node
	$(SWIFT) build -c release --product todo

# The whole suite; the end-to-end tests run the debug binaries, which `swift build` makes.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

bench: deps
	$(SWIFT) build -c release --product todo-bench
	.build/release/todo-bench

cluster: build
	@scripts/cluster.sh start $(NODES)

node: build
	.build/release/todo-node --name $(NAME)@localhost --http-port $(HTTP_PORT) $(if $(CONNECT),--connect $(CONNECT))

stop:
	@scripts/cluster.sh stop
