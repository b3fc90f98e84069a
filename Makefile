GOBIN ?= $(shell go env GOPATH)/bin
PROTOC_GEN_GO_VERSION ?= v1.36.12
PROTOC_GEN_GO_GRPC_VERSION ?= v1.6.2

.PHONY: test test-multihost test-multihost-quick generate lint bench bench-quick tools

# test is the project's test command; .ci/run calls it.
test:
	go test -race -count=1 -timeout 15m ./...

# test-multihost runs the multi-host tests and the whole fault suite
# (docs/testing.md): agents in Docker containers, faults under load.
test-multihost:
	DROVER_FAULTS=all go test -count=1 -v -timeout 20m -run 'TestAgentsOnSeparateHosts|TestFaults' ./internal/testing/multihost/

# test-multihost-quick runs the fault suite's fast subset (scenarios 1, 2
# and 6); .ci/run calls it where a Docker engine answers.
test-multihost-quick:
	DROVER_FAULTS=quick go test -count=1 -v -timeout 10m -run 'TestFaults' ./internal/testing/multihost/

tools:
	go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

# generate regenerates the protobuf code in structs/ (needs protoc: apt-get install protobuf-compiler).
generate: tools
	PATH="$(GOBIN):$$PATH" protoc -I . --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative structs/*.proto

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

bench:
	go test -run '^$$' -bench . -benchmem ./...

# bench-quick runs the cluster-scale harness at 1% of the C1M scenario
# (3 servers, 50 simulated nodes, 10 jobs x 100): a smoke test that fails
# only on lost or duplicated allocations, an error or a timeout.
bench-quick:
	go run ./bench/cmd/cluster -servers 3 -nodes 50 -jobs 10 -count 100 -timeout 2m
