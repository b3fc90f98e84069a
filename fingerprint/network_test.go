package fingerprint

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func prefixes(t *testing.T, s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

func TestNetworkPicksTheDefaultRoutesInterface(t *testing.T) {
	ifaces := []Interface{
		{Name: "lo", Up: true, Loopback: true, Addrs: prefixes(t, "127.0.0.1/8", "::1/128")},
		{Name: "eth1", Up: true, Addrs: prefixes(t, "fe80::1/64", "10.1.0.5/16")},
		{Name: "eth0", Up: true, Addrs: prefixes(t, "192.168.1.10/24")},
		{Name: "down0", Addrs: prefixes(t, "172.16.0.1/12")},
		{Name: "empty0", Up: true},
	}
	r, err := NetworkFrom(func() ([]Interface, error) { return ifaces, nil }, func() string { return "eth1" }).Fingerprint(context.Background())
	require.NoError(t, err)
	require.Equal(t, "10.1.0.5", r.Attributes["unique.network.ip-address"], "IPv4 preferred, on the default route's interface")
	require.Equal(t, "eth1", r.Attributes["network.interface"])
	require.Equal(t, "eth0,eth1,lo", r.Attributes["network.interfaces"], "up and with addresses, sorted")
	require.Equal(t, "fe80::1/64,10.1.0.5/16", r.Attributes["network.eth1.addrs"])
	require.NotContains(t, r.Attributes, "network.down0.addrs")

	// No default route: the first interface that is up and not loopback.
	r, err = NetworkFrom(func() ([]Interface, error) { return ifaces, nil }, func() string { return "" }).Fingerprint(context.Background())
	require.NoError(t, err)
	require.Equal(t, "192.168.1.10", r.Attributes["unique.network.ip-address"])

	// Only loopback, IPv6 only.
	r, err = NetworkFrom(func() ([]Interface, error) {
		return []Interface{{Name: "lo", Up: true, Loopback: true, Addrs: prefixes(t, "::1/128")}}, nil
	}, func() string { return "" }).Fingerprint(context.Background())
	require.NoError(t, err)
	require.Equal(t, "::1", r.Attributes["unique.network.ip-address"])

	_, err = NetworkFrom(func() ([]Interface, error) { return nil, errors.New("netlink says no") }, func() string { return "" }).Fingerprint(context.Background())
	require.ErrorContains(t, err, "netlink says no")
}

func TestParseDefaultRoute(t *testing.T) {
	const table = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	0000A8C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
wlan0	00000000	0101A8C0	0003	0	0	600	00000000	0	0	0
eth0	00000000	0101A8C0	0003	0	0	100	00000000	0	0	0
bad	00000000	0101A8C0	0003	0	0	x	00000000	0	0	0
`
	require.Equal(t, "eth0", parseDefaultRoute(strings.NewReader(table)), "the lowest metric wins")
	require.Empty(t, parseDefaultRoute(strings.NewReader("Iface\tDestination\n")))
}

func TestNetworkIsPeriodic(t *testing.T) {
	p, ok := Network().(Periodic)
	require.True(t, ok)
	require.Equal(t, DefaultNetworkInterval, p.Interval())
}
