package sandbox

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// ErrEgressDenied is the sentinel of every egress refusal: errors.Is(err,
// ErrEgressDenied) holds for each *EgressError.
var ErrEgressDenied = errors.New("egress denied")

// EgressError is a request or connection refused by the egress rule. It
// unwraps to ErrEgressDenied.
type EgressError struct {
	// Target is what was refused: the endpoint scheme://host:port of a URL,
	// or the host being dialled.
	Target string
	// Addr is the address refused by the private-address guard; invalid
	// (the zero netip.Addr) for a refusal by scheme or allow list.
	Addr netip.Addr
	// Rule names the rule that refused it, e.g. "deny by default: not in
	// the allow list" or "loopback 127.0.0.0/8 needs allow_private".
	Rule string
}

// Error returns "egress denied: <target>[ (<addr>)]: <rule>".
func (e *EgressError) Error() string {
	s := "egress denied: " + e.Target
	if e.Addr.IsValid() && e.Addr.String() != strings.Trim(e.Target, "[]") {
		s += " (" + e.Addr.String() + ")"
	}
	return s + ": " + e.Rule
}

// Unwrap returns ErrEgressDenied.
func (e *EgressError) Unwrap() error { return ErrEgressDenied }

// Egress is the HTTP egress rule of one HTTPGrant: deny by default; a URL
// passes CheckURL only if its scheme is http or https and its scheme, host
// and port match an allow pattern; an address passes CheckAddr only if it
// is a public unicast address or the grant has AllowPrivate. The HTTP
// capability calls CheckURL on the request URL and on every redirect, and
// CheckAddr on every address it is about to connect to (after DNS
// resolution, so a name that resolves to a private address is refused
// whatever the allow list says — DNS rebinding included).
//
// An Egress is immutable and safe for concurrent use.
type Egress struct {
	rules        []allowRule
	allowPrivate bool
}

// allowRule is one parsed pattern of HTTPGrant.Allow.
type allowRule struct {
	scheme   string
	host     string     // lower case, no trailing dot; the domain after "*." for a wildcard
	addr     netip.Addr // valid when the pattern's host is an IP literal
	wildcard bool       // "*.host": any subdomain of host, not host itself
	any      bool       // "*": every http and https URL
	port     int
	text     string // canonical form, for messages
}

// NewEgress parses g's allow patterns. Each is scheme://host[:port] (a
// single trailing "/" is tolerated): scheme http or https; host a DNS name,
// an IPv4 literal, a bracketed IPv6 literal, or "*." followed by a DNS name
// to match every subdomain of that name (at any depth, but not the name
// itself); port 1..65535, default 80 for http and 443 for https. Host and
// scheme compare case-insensitively and a trailing dot on a name is
// ignored. The pattern "*" alone allows every http and https URL (the
// private-address guard still applies). Every invalid pattern is reported,
// joined with errors.Join.
func NewEgress(g HTTPGrant) (*Egress, error) {
	e := &Egress{allowPrivate: g.AllowPrivate, rules: make([]allowRule, 0, len(g.Allow))}
	var errs []error
	for _, p := range g.Allow {
		r, err := parseAllowRule(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e.rules = append(e.rules, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return e, nil
}

// ValidateHTTPGrant reports every invalid allow pattern of g (see
// NewEgress), for configuration checks.
func ValidateHTTPGrant(g HTTPGrant) error {
	_, err := NewEgress(g)
	return err
}

// AllowPrivate reports whether the grant lets private, loopback and other
// special addresses through.
func (e *Egress) AllowPrivate() bool { return e.allowPrivate }

func parseAllowRule(pattern string) (allowRule, error) {
	bad := func(why string) (allowRule, error) {
		return allowRule{}, fmt.Errorf("allow pattern %q: %s", pattern, why)
	}
	p := strings.ToLower(strings.TrimSpace(pattern))
	if p == "*" {
		return allowRule{any: true, text: "*"}, nil
	}
	scheme, rest, ok := strings.Cut(p, "://")
	if !ok {
		return bad("want scheme://host[:port], e.g. https://api.example.com or https://*.example.com")
	}
	port, ok := DefaultPort(scheme)
	if !ok {
		return bad("scheme " + strconv.Quote(scheme) + ": only http and https are allowed")
	}
	rest = strings.TrimSuffix(rest, "/")
	if rest == "" || strings.ContainsAny(rest, "/?#@ \\") {
		return bad("want only scheme://host[:port], no user, path or query")
	}
	host, portStr, err := splitHostPort(rest)
	if err != nil {
		return bad(err.Error())
	}
	if portStr != "" {
		if port, err = parsePort(portStr); err != nil {
			return bad(err.Error())
		}
	}
	r := allowRule{scheme: scheme, port: port}
	if strings.HasPrefix(host, "*.") {
		r.wildcard = true
		host = host[2:]
	}
	host = strings.TrimSuffix(host, ".")
	if a, err := netip.ParseAddr(host); err == nil {
		if r.wildcard {
			return bad("a wildcard needs a DNS name, not an IP address")
		}
		if a.Zone() != "" {
			return bad("an IPv6 zone is not allowed")
		}
		r.addr = a.Unmap()
		host = r.addr.String()
	} else if !validHostname(host) {
		return bad("host " + strconv.Quote(host) + " is not a valid DNS name or IP address")
	}
	r.host = host
	r.text = scheme + "://" + joinHostPort(rawHost(r), port)
	return r, nil
}

func rawHost(r allowRule) string {
	if r.wildcard {
		return "*." + r.host
	}
	return r.host
}

// splitHostPort splits "host", "host:port", "[v6]" or "[v6]:port".
func splitHostPort(s string) (host, port string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", errors.New("missing ']' in IPv6 address")
		}
		host, rest := s[1:end], s[end+1:]
		if _, err := netip.ParseAddr(host); err != nil || !strings.Contains(host, ":") {
			return "", "", fmt.Errorf("%q is not an IPv6 address", host)
		}
		if rest == "" {
			return host, "", nil
		}
		if !strings.HasPrefix(rest, ":") {
			return "", "", fmt.Errorf("unexpected %q after IPv6 address", rest)
		}
		return host, rest[1:], nil
	}
	if strings.Count(s, ":") > 1 {
		return "", "", errors.New("an IPv6 address must be in brackets")
	}
	host, port, _ = strings.Cut(s, ":")
	if port == "" && strings.HasSuffix(s, ":") {
		return "", "", errors.New("empty port")
	}
	return host, port, nil
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("port %q: want 1..65535", s)
	}
	return n, nil
}

// validHostname accepts lower-case ASCII DNS names: dot-separated labels of
// letters, digits, '-' and '_' (not starting or ending with '-'), at most
// 253 characters.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// DefaultPort returns the port of scheme when a URL names none: 80 for
// http, 443 for https; false for any other scheme (egress allows only those
// two).
func DefaultPort(scheme string) (int, bool) {
	switch scheme {
	case "http":
		return 80, true
	case "https":
		return 443, true
	}
	return 0, false
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// Endpoint is the canonical target of an absolute http or https URL.
type Endpoint struct {
	// Scheme is "http" or "https".
	Scheme string
	// Host is the lower-case host without trailing dot or brackets; an
	// IP literal is in its canonical form (IPv4-mapped IPv6 unmapped).
	Host string
	// Addr is the host as an address when it is an IP literal.
	Addr netip.Addr
	// Port is the explicit port, or the scheme's default.
	Port int
}

// String returns scheme://host:port with the default port filled in and an
// IPv6 host in brackets: the key of the endpoint's circuit breaker.
func (ep Endpoint) String() string {
	return ep.Scheme + "://" + joinHostPort(ep.Host, ep.Port)
}

// ParseEndpoint returns the endpoint of u. It refuses, with an
// *EgressError, a scheme other than http and https, and with a plain error
// a URL without a host, with a bad port, or with a host that is neither an
// IP literal nor an ASCII DNS name.
func ParseEndpoint(u *url.URL) (Endpoint, error) {
	scheme := strings.ToLower(u.Scheme)
	port, ok := DefaultPort(scheme)
	if !ok {
		return Endpoint{}, &EgressError{Target: u.Scheme + "://" + u.Host, Rule: "scheme " + strconv.Quote(u.Scheme) + " is not allowed: only http and https"}
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return Endpoint{}, fmt.Errorf("url %q has no host", u.Redacted())
	}
	if p := u.Port(); p != "" {
		var err error
		if port, err = parsePort(p); err != nil {
			return Endpoint{}, fmt.Errorf("url %q: %v", u.Redacted(), err)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return Endpoint{}, fmt.Errorf("url %q: empty port", u.Redacted())
	}
	ep := Endpoint{Scheme: scheme, Port: port}
	if a, err := netip.ParseAddr(host); err == nil {
		ep.Addr = a.Unmap()
		ep.Host = ep.Addr.String()
		return ep, nil
	}
	host = strings.TrimSuffix(host, ".")
	if !validHostname(host) {
		return Endpoint{}, fmt.Errorf("url host %q is not a valid ASCII DNS name or IP address (use the punycode form of an international name)", u.Hostname())
	}
	ep.Host = host
	return ep, nil
}

// CheckURL reports whether a request to u is allowed: nil, or an
// *EgressError naming the endpoint and the rule that refused it (scheme not
// http/https; no allow pattern matches; an IP-literal host refused by
// CheckAddr), or a plain error for a URL that has no usable host or port.
// Names are not resolved here: the dialer checks every resolved address
// with CheckAddr.
func (e *Egress) CheckURL(u *url.URL) error {
	ep, err := ParseEndpoint(u)
	if err != nil {
		return err
	}
	return e.CheckEndpoint(ep)
}

// CheckEndpoint is CheckURL for an already parsed endpoint.
func (e *Egress) CheckEndpoint(ep Endpoint) error {
	if !e.match(ep) {
		rule := "deny by default: not in the allow list"
		if len(e.rules) == 0 {
			rule = "deny by default: the allow list is empty"
		}
		return &EgressError{Target: ep.String(), Rule: rule}
	}
	if ep.Addr.IsValid() {
		if err := e.CheckAddr(ep.Addr); err != nil {
			err.(*EgressError).Target = ep.String()
			return err
		}
	}
	return nil
}

func (e *Egress) match(ep Endpoint) bool {
	for i := range e.rules {
		r := &e.rules[i]
		if r.any {
			return true
		}
		if r.scheme != ep.Scheme || r.port != ep.Port {
			continue
		}
		switch {
		case r.addr.IsValid():
			if ep.Addr.IsValid() && ep.Addr.WithZone("") == r.addr {
				return true
			}
		case ep.Addr.IsValid():
			// A DNS-name pattern never matches an IP literal.
		case r.wildcard:
			if len(ep.Host) > len(r.host)+1 && strings.HasSuffix(ep.Host, r.host) && ep.Host[len(ep.Host)-len(r.host)-1] == '.' {
				return true
			}
		case ep.Host == r.host:
			return true
		}
	}
	return false
}

// CheckIP is CheckAddr for a net.IP; an invalid IP is refused.
func (e *Egress) CheckIP(ip net.IP) error {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return &EgressError{Target: ip.String(), Rule: "not a valid IP address"}
	}
	return e.CheckAddr(a)
}

// CheckAddr reports whether a connection to a may be made: always when the
// grant has AllowPrivate, else only when SpecialRange finds a outside every
// special range. The refusal is an *EgressError naming the range.
func (e *Egress) CheckAddr(a netip.Addr) error {
	if e.allowPrivate {
		return nil
	}
	return CheckPublicAddr(a)
}

// CheckPublicAddr refuses, with an *EgressError naming the range, any
// address for which SpecialRange reports a range: what CheckAddr does for a
// grant without AllowPrivate.
func CheckPublicAddr(a netip.Addr) error {
	if name, prefix, ok := SpecialRange(a); ok {
		return &EgressError{Target: a.String(), Addr: a, Rule: name + " address (" + prefix.String() + ") needs allow_private"}
	}
	return nil
}

type specialRange struct {
	prefix netip.Prefix
	name   string
}

// specialV4 are the IPv4 ranges refused without AllowPrivate.
var specialV4 = []specialRange{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
}

// specialV6 are the IPv6 ranges refused without AllowPrivate, after
// IPv4-mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
// addresses have been checked by their embedded IPv4 address.
var specialV6 = []specialRange{
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible (deprecated)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("fc00::/7"), "unique local (private)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local (deprecated)"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// SpecialRange reports whether a is in a range that egress refuses without
// AllowPrivate, with the range's name and prefix:
//
//   - IPv4: unspecified 0.0.0.0/8, private 10/8, 172.16/12, 192.168/16,
//     carrier-grade NAT 100.64/10, loopback 127/8, link-local 169.254/16,
//     IETF 192.0.0/24, documentation 192.0.2/24, 198.51.100/24,
//     203.0.113/24, benchmarking 198.18/15, multicast 224/4, reserved 240/4
//     (broadcast included);
//   - IPv6: unspecified ::, loopback ::1, IPv4-compatible ::/96, local-use
//     NAT64 64:ff9b:1::/48, discard 100::/64, documentation 2001:db8::/32,
//     unique local fc00::/7, link-local fe80::/10, site-local fec0::/10,
//     multicast ff00::/8;
//   - an IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d) or 6to4
//     (2002:aabb:ccdd::) address whose embedded IPv4 address is special.
//
// An invalid address is reported as special ("invalid"). A zone is
// ignored. SpecialRange is a pure function, safe for concurrent use.
func SpecialRange(a netip.Addr) (name string, prefix netip.Prefix, special bool) {
	if !a.IsValid() {
		return "invalid", netip.Prefix{}, true
	}
	a = a.WithZone("")
	if a.Is4In6() {
		name, prefix, special = SpecialRange(a.Unmap())
		if special {
			name = "IPv4-mapped " + name
		}
		return name, prefix, special
	}
	ranges := specialV4
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a):
			if name, prefix, special = SpecialRange(netip.AddrFrom4([4]byte(b[12:16]))); special {
				name = "NAT64-embedded " + name
			}
			return name, prefix, special
		case sixToFour.Contains(a):
			if name, prefix, special = SpecialRange(netip.AddrFrom4([4]byte(b[2:6]))); special {
				name = "6to4-embedded " + name
			}
			return name, prefix, special
		}
		ranges = specialV6
	}
	for _, r := range ranges {
		if r.prefix.Contains(a) {
			return r.name, r.prefix, true
		}
	}
	return "", netip.Prefix{}, false
}
