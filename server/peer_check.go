package server

import (
	"context"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/droverhq/drover/structs"
	"github.com/droverhq/drover/transport/tcp"
)

// Roles an RPC needs of its peer's certificate, with mutual TLS and
// verify_server_hostname on.
type peerRole int

const (
	// peerNode: a client or a server of this region (node calls, which
	// the node's secret then authenticates).
	peerNode peerRole = iota + 1
	// peerServer: a server of this region (raft and membership).
	peerServer
)

// methodRoles lists the RPCs that need more than any certificate of the
// CA (for the others, the caller's ACL token decides).
var methodRoles = map[string]peerRole{
	structs.Drover_Raft_FullMethodName:                       peerServer,
	structs.Drover_InstallSnapshot_FullMethodName:            peerServer,
	structs.Drover_ServerInfo_FullMethodName:                 peerServer,
	structs.Drover_AddRaftPeer_FullMethodName:                peerServer,
	structs.Drover_RemoveRaftPeer_FullMethodName:             peerServer,
	structs.Drover_RegisterNode_FullMethodName:               peerNode,
	structs.Drover_Heartbeat_FullMethodName:                  peerNode,
	structs.Drover_GetNodeAllocations_FullMethodName:         peerNode,
	structs.Drover_UpdateAllocations_FullMethodName:          peerNode,
	structs.Drover_ClientConnect_FullMethodName:              peerNode,
	structs.Drover_ClientAuthorize_FullMethodName:            peerNode,
	structs.Drover_UpdateServiceRegistrations_FullMethodName: peerNode,
	structs.Drover_SignAllocIdentities_FullMethodName:        peerNode,
	structs.Drover_NodeConnHolder_FullMethodName:             peerServer,
	structs.Drover_DequeueEval_FullMethodName:                peerServer,
	structs.Drover_AckEval_FullMethodName:                    peerServer,
	structs.Drover_NackEval_FullMethodName:                   peerServer,
	structs.Drover_RenewEvalLease_FullMethodName:             peerServer,
	structs.Drover_SubmitPlan_FullMethodName:                 peerServer,
	structs.Drover_UpdateEvals_FullMethodName:                peerServer,
}

// checkPeer checks that the peer of an RPC may call method. Without TLS
// there is nothing to check (every connection is plain). With TLS the
// transport has already refused peers without a certificate of the CA;
// with VerifyServerHostname, servers of the region alone take part in
// raft and membership, node calls need a client or server certificate of
// the region, and a call forwarded by a server needs a server's
// certificate (of this region, or of any region for a call forwarded
// from another one). A refusal is logged with the reason.
func (s *Server) checkPeer(ctx context.Context, method string) error {
	if s.cfg.TLS == nil {
		return nil
	}
	p, _ := peer.FromContext(ctx)
	var names []string
	info, isTLS := p.AuthInfo.(credentials.TLSInfo)
	if isTLS {
		names = tcp.PeerNames(info.State)
	}
	if !isTLS || len(info.State.VerifiedChains) == 0 {
		return s.refusePeer(p, method, names, "the connection carries no verified certificate")
	}
	if !s.cfg.VerifyServerHostname {
		return nil
	}
	serverName, clientName := tcp.ServerName(s.cfg.Region), tcp.ClientName(s.cfg.Region)
	has := func(n string) bool { return tcp.HasName(info.State, n) }
	md, _ := metadata.FromIncomingContext(ctx)
	switch {
	case len(md.Get(regionHeader)) > 0:
		if !anyServerName(names) {
			return s.refusePeer(p, method, names, "a call forwarded from another region needs a server certificate (server.<region>.nomad)")
		}
	case len(md.Get(forwardedHeader)) > 0 || methodRoles[method] == peerServer:
		if !has(serverName) {
			return s.refusePeer(p, method, names, "it needs a server certificate of this region ("+serverName+")")
		}
	case methodRoles[method] == peerNode:
		if !has(clientName) && !has(serverName) {
			return s.refusePeer(p, method, names, "it needs a client or server certificate of this region ("+clientName+")")
		}
	}
	return nil
}

// anyServerName reports whether names hold a server name of some region.
func anyServerName(names []string) bool {
	for _, n := range names {
		n = strings.ToLower(n)
		if strings.HasPrefix(n, "server.") && strings.HasSuffix(n, ".nomad") && len(n) > len("server..nomad") {
			return true
		}
	}
	return false
}

func (s *Server) refusePeer(p *peer.Peer, method string, names []string, why string) error {
	addr := ""
	if p != nil && p.Addr != nil {
		addr = p.Addr.String()
	}
	s.logger.Warn("refused an RPC from a peer whose certificate does not fit", "method", method, "peer", addr,
		"certificate_names", names, "reason", why)
	s.metrics.refusedPeers.Inc()
	return statusDenied("certificate refused: " + why)
}
