package bench

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/droverhq/drover/structs"
)

// rpcClient dials the server at addr over plain TCP, as a client node
// does: simulated nodes register and heartbeat through it. The connection
// closes when the benchmark ends.
func rpcClient(b *testing.B, addr string) structs.DroverClient {
	b.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", a)
		}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cc.Close() })
	return structs.NewDroverClient(cc)
}
