package egress

import "net/netip"

// A special is a range of addresses an outbound request must not reach
// unless the policy allows it, with the name that refusals report.
type special struct {
	prefix netip.Prefix
	name   string
}

func mustSpecial(cidr, name string) special {
	return special{netip.MustParsePrefix(cidr), name}
}

// specialV4 lists the IPv4 ranges that are not public unicast (RFC 6890
// and the IANA IPv4 Special-Purpose Address Registry), most specific
// first so that refusals name the narrowest class. It is never modified.
var specialV4 = []special{
	mustSpecial("0.0.0.0/32", "unspecified"),
	mustSpecial("0.0.0.0/8", "this-network (RFC 791)"), // Linux connects 0.x to the local host
	mustSpecial("10.0.0.0/8", "private (RFC 1918)"),
	mustSpecial("100.64.0.0/10", "shared CGNAT (RFC 6598)"),
	mustSpecial("127.0.0.0/8", "loopback"),
	mustSpecial("169.254.169.254/32", "cloud metadata"),
	mustSpecial("169.254.0.0/16", "link-local"),
	mustSpecial("172.16.0.0/12", "private (RFC 1918)"),
	mustSpecial("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
	mustSpecial("192.0.2.0/24", "documentation (RFC 5737)"),
	mustSpecial("192.88.99.0/24", "6to4 relay anycast (RFC 7526)"),
	mustSpecial("192.168.0.0/16", "private (RFC 1918)"),
	mustSpecial("198.18.0.0/15", "benchmarking (RFC 2544)"),
	mustSpecial("198.51.100.0/24", "documentation (RFC 5737)"),
	mustSpecial("203.0.113.0/24", "documentation (RFC 5737)"),
	mustSpecial("224.0.0.0/4", "multicast"),
	mustSpecial("255.255.255.255/32", "broadcast"),
	mustSpecial("240.0.0.0/4", "reserved (RFC 1112)"),
}

// specialV6 lists the IPv6 ranges refused outright (RFC 6890 and the IANA
// IPv6 Special-Purpose Address Registry). The ranges that embed an IPv4
// address are handled by refusedClass instead. It is never modified.
var specialV6 = []special{
	mustSpecial("::/128", "unspecified"),
	mustSpecial("::1/128", "loopback"),
	mustSpecial("::ffff:0:0:0/96", "IPv4-translated (RFC 2765)"),
	mustSpecial("64:ff9b:1::/48", "local-use NAT64 (RFC 8215)"),
	mustSpecial("100::/64", "discard-only (RFC 6666)"),
	// Teredo, benchmarking, ORCHID and the other protocol assignments;
	// no relying party is reached through them.
	mustSpecial("2001::/23", "IETF protocol assignments (RFC 2928)"),
	mustSpecial("2001:db8::/32", "documentation (RFC 3849)"),
	mustSpecial("3fff::/20", "documentation (RFC 9637)"),
	mustSpecial("fd00:ec2::254/128", "cloud metadata"),
	mustSpecial("fc00::/7", "unique-local (RFC 4193)"),
	mustSpecial("fe80::/10", "link-local"),
	mustSpecial("fec0::/10", "site-local (RFC 3879)"),
	mustSpecial("ff00::/8", "multicast"),
}

// Ranges whose addresses carry an IPv4 address that the packet (or a
// translator on its way) ends up at, so that address must pass too.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052 §2.1: the IPv4 address is the last 32 bits
	sixToFour = netip.MustParsePrefix("2002::/16")    // RFC 3056 §2: the IPv4 address is bits 16–47
	compat    = netip.MustParsePrefix("::/96")        // RFC 4291 §2.5.5.1: deprecated "IPv4-compatible"
)

// refusedClass names the class of special-purpose address a belongs to,
// or returns "" for a public unicast address. a must have no zone.
func refusedClass(a netip.Addr) string {
	if a.Is4() {
		return lookup(specialV4, a)
	}
	if a.Is4In6() {
		// ::ffff:a.b.c.d is dialled as a.b.c.d.
		if c := lookup(specialV4, a.Unmap()); c != "" {
			return "IPv4-mapped " + c
		}
		return ""
	}
	if c := lookup(specialV6, a); c != "" {
		return c
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		if c := lookup(specialV4, netip.AddrFrom4([4]byte(b[12:16]))); c != "" {
			return "NAT64 " + c
		}
	case sixToFour.Contains(a):
		if c := lookup(specialV4, netip.AddrFrom4([4]byte(b[2:6]))); c != "" {
			return "6to4 " + c
		}
	case compat.Contains(a):
		// Deprecated for twenty years and never routed: refuse them all.
		return "IPv4-compatible (RFC 4291)"
	}
	return ""
}

func lookup(table []special, a netip.Addr) string {
	for _, s := range table {
		if s.prefix.Contains(a) {
			return s.name
		}
	}
	return ""
}
