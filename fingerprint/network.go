package fingerprint

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// DefaultNetworkInterval is how often the network fingerprint is refreshed.
const DefaultNetworkInterval = 30 * time.Second

// Interface is one network interface as the network fingerprinter sees it.
type Interface struct {
	Name     string
	Up       bool
	Loopback bool
	Addrs    []netip.Prefix
}

// Network fingerprints the host's network interfaces, every
// DefaultNetworkInterval:
//
//   - unique.network.ip-address: the address other hosts reach this one
//     at (Nomad's name): the first IPv4 address (else IPv6) of the
//     interface of the default route, else of the first interface that is
//     up and not loopback, else of loopback;
//   - network.interface: that interface's name;
//   - network.interfaces: the names of the interfaces that are up, sorted;
//   - network.<name>.addrs: each such interface's addresses in CIDR form.
func Network() Fingerprinter {
	return NetworkFrom(hostInterfaces, defaultRouteInterface)
}

// NetworkFrom is Network reading interfaces and the default route's
// interface ("" when unknown) from the given functions.
func NetworkFrom(interfaces func() ([]Interface, error), defaultRoute func() string) Fingerprinter {
	return networkFingerprint{interfaces: interfaces, defaultRoute: defaultRoute}
}

type networkFingerprint struct {
	interfaces   func() ([]Interface, error)
	defaultRoute func() string
}

func (networkFingerprint) Name() string { return "network" }

// Interval implements Periodic.
func (networkFingerprint) Interval() time.Duration { return DefaultNetworkInterval }

func (n networkFingerprint) Fingerprint(context.Context) (*Result, error) {
	ifaces, err := n.interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	ifaces = slices.Clone(ifaces)
	slices.SortFunc(ifaces, func(a, b Interface) int { return strings.Compare(a.Name, b.Name) })
	attrs := map[string]string{}
	var up []string
	for _, i := range ifaces {
		if !i.Up || len(i.Addrs) == 0 {
			continue
		}
		up = append(up, i.Name)
		addrs := make([]string, len(i.Addrs))
		for k, a := range i.Addrs {
			addrs[k] = a.String()
		}
		attrs["network."+i.Name+".addrs"] = strings.Join(addrs, ",")
	}
	attrs["network.interfaces"] = strings.Join(up, ",")
	if chosen, ip := pickAddress(ifaces, n.defaultRoute()); ip.IsValid() {
		attrs["unique.network.ip-address"] = ip.String()
		attrs["network.interface"] = chosen
	}
	return &Result{Attributes: attrs}, nil
}

// pickAddress chooses the interface and address the node is reached at.
func pickAddress(ifaces []Interface, defaultIface string) (string, netip.Addr) {
	rank := func(i Interface) int {
		switch {
		case !i.Up || len(i.Addrs) == 0:
			return -1
		case i.Name == defaultIface:
			return 0
		case !i.Loopback:
			return 1
		}
		return 2
	}
	best, bestRank := -1, 3
	for k, i := range ifaces {
		if r := rank(i); r >= 0 && r < bestRank {
			best, bestRank = k, r
		}
	}
	if best < 0 {
		return "", netip.Addr{}
	}
	addrs := ifaces[best].Addrs
	for _, a := range addrs {
		if a.Addr().Is4() {
			return ifaces[best].Name, a.Addr()
		}
	}
	return ifaces[best].Name, addrs[0].Addr()
}

// hostInterfaces lists the host's interfaces through package net.
func hostInterfaces() ([]Interface, error) {
	list, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := make([]Interface, 0, len(list))
	for _, ni := range list {
		i := Interface{Name: ni.Name, Up: ni.Flags&net.FlagUp != 0, Loopback: ni.Flags&net.FlagLoopback != 0}
		addrs, err := ni.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ones, _ := ipn.Mask.Size()
			i.Addrs = append(i.Addrs, netip.PrefixFrom(ip.Unmap(), ones))
		}
		out = append(out, i)
	}
	return out, nil
}

// defaultRouteInterface reads the interface of the IPv4 default route from
// /proc/net/route; "" where there is none or no such file.
func defaultRouteInterface() string {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return ""
	}
	defer f.Close()
	return parseDefaultRoute(f)
}

// parseDefaultRoute reads /proc/net/route's format: Iface, Destination
// (hex), Gateway, Flags, ..., Metric; the default route has destination 0.
func parseDefaultRoute(r io.Reader) string {
	sc := bufio.NewScanner(r)
	best, bestMetric := "", -1
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 7 || f[1] != "00000000" {
			continue
		}
		var metric int
		if _, err := fmt.Sscan(f[6], &metric); err != nil {
			continue
		}
		if bestMetric < 0 || metric < bestMetric {
			best, bestMetric = f[0], metric
		}
	}
	return best
}
