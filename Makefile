GOBIN ?= $(shell go env GOPATH)/bin
PROTOC_GEN_GO_VERSION ?= v1.36.12
PROTOC_GEN_GO_GRPC_VERSION ?= v1.6.2

.PHONY: test generate lint bench bench-quick tools

# test is the project's test command; .ci/run calls it.
test:
	go test -race -count=1 -timeout 15m ./...

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
