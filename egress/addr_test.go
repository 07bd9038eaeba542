package egress

import (
	"net/netip"
	"testing"
)

// TestRefusedClassPublic checks the other half of what TestRefusedAddresses
// checks through a client: public addresses, in every form that embeds
// one, are not refused, so the check is not simply "refuse everything".
func TestRefusedClassPublic(t *testing.T) {
	for _, s := range []string{
		"8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0",
		"169.253.255.255", "192.0.1.1", "198.17.255.255", "198.20.0.0", "223.255.255.255",
		"2606:4700:4700::1111", "2a00:1450:4001::200e", "::ffff:8.8.8.8",
		"64:ff9b::808:808", "2002:808:808::1",
	} {
		if c := refusedClass(netip.MustParseAddr(s)); c != "" {
			t.Errorf("refusedClass(%s) = %q, want \"\"", s, c)
		}
	}
}

// TestRefusedClassEmbedded covers forms the standard library never hands
// to the dialer unnormalized (it dials ::ffff:a.b.c.d as a.b.c.d), so a
// client-level test cannot reach them.
func TestRefusedClassEmbedded(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"::ffff:127.0.0.1", "IPv4-mapped loopback"},
		{"::ffff:169.254.169.254", "IPv4-mapped cloud metadata"},
		{"::ffff:0:7f00:1", "IPv4-translated (RFC 2765)"},
		{"::8.8.8.8", "IPv4-compatible (RFC 4291)"},
		{"64:ff9b::a00:1", "NAT64 private (RFC 1918)"},
		{"64:ff9b:1::1", "local-use NAT64 (RFC 8215)"},
		{"2001::1", "IETF protocol assignments (RFC 2928)"},
	}
	for _, tt := range tests {
		if got := refusedClass(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("refusedClass(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}
