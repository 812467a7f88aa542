package sandbox

import (
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

func TestNewEgressPatterns(t *testing.T) {
	good := []string{
		"https://api.example.com",
		"https://api.example.com/",
		"HTTPS://API.Example.COM:8443",
		"http://*.example.org",
		"http://localhost:9000",
		"http://127.0.0.1:8080",
		"http://[::1]:8080",
		"https://[2001:db8::1]",
		"https://example.com.",
		"http://under_score.example",
		"*",
	}
	for _, p := range good {
		if _, err := NewEgress(HTTPGrant{Allow: []string{p}}); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
	bad := map[string]string{
		"api.example.com":            "want scheme://host",
		"ftp://example.com":          "only http and https",
		"file:///etc/passwd":         "only http and https",
		"https://":                   "want only scheme://host[:port]",
		"https://example.com/path":   "no user, path or query",
		"https://example.com?q=1":    "no user, path or query",
		"https://u:p@example.com":    "no user, path or query",
		"https://example.com:0":      "want 1..65535",
		"https://example.com:70000":  "want 1..65535",
		"https://example.com:":       "empty port",
		"https://example.com:http":   "want 1..65535",
		"https://*.1.2.3.4":          "wildcard needs a DNS name",
		"https://*":                  "not a valid DNS name",
		"https://exa mple.com":       "no user, path or query",
		"https://-bad.example.com":   "not a valid DNS name",
		"https://::1":                "must be in brackets",
		"https://[::1":               "missing ']'",
		"https://[example.com]":      "not an IPv6 address",
		"https://bücher.example":     "not a valid DNS name",
		"https://*.example.com:+443": "want 1..65535",
	}
	for p, want := range bad {
		_, err := NewEgress(HTTPGrant{Allow: []string{p}})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: got %v, want an error containing %q and the pattern", p, err, want)
		}
	}
	// Every invalid pattern is reported.
	_, err := NewEgress(HTTPGrant{Allow: []string{"ftp://a", "https://ok.example", "gopher://b"}})
	if err == nil || !strings.Contains(err.Error(), "ftp://a") || !strings.Contains(err.Error(), "gopher://b") {
		t.Errorf("joined errors: %v", err)
	}
	if err := ValidateHTTPGrant(HTTPGrant{Allow: good}); err != nil {
		t.Errorf("ValidateHTTPGrant: %v", err)
	}
}

func TestEgressCheckURL(t *testing.T) {
	pub := HTTPGrant{Allow: []string{
		"https://api.example.com",
		"http://*.example.org",
		"https://*.example.org:8443",
		"http://10.1.2.3",
		"http://localhost:9000",
		"http://[fd00::1]:80",
		"https://93.184.216.34",
	}}
	priv := pub
	priv.AllowPrivate = true

	tests := []struct {
		name    string
		grant   HTTPGrant
		url     string
		allowed bool
		want    string // substring of the refusal
	}{
		{"exact", pub, "https://api.example.com/v1?x=1", true, ""},
		{"exact default port explicit", pub, "https://api.example.com:443/", true, ""},
		{"case and trailing dot", pub, "HTTPS://API.EXAMPLE.COM./", true, ""},
		{"wrong port", pub, "https://api.example.com:8443/", false, "not in the allow list"},
		{"wrong scheme", pub, "http://api.example.com/", false, "http://api.example.com:80: deny by default"},
		{"subdomain of exact", pub, "https://x.api.example.com/", false, "not in the allow list"},
		{"suffix trick", pub, "https://evilapi.example.com/", false, "not in the allow list"},
		{"wildcard one level", pub, "http://a.example.org/", true, ""},
		{"wildcard two levels", pub, "http://a.b.example.org/", true, ""},
		{"wildcard not apex", pub, "http://example.org/", false, "not in the allow list"},
		{"wildcard suffix trick", pub, "http://evilexample.org/", false, "not in the allow list"},
		{"wildcard port", pub, "https://a.example.org:8443/", true, ""},
		{"wildcard wrong port", pub, "https://a.example.org/", false, "not in the allow list"},
		{"ftp scheme", pub, "ftp://api.example.com/", false, `scheme "ftp" is not allowed`},
		{"file scheme", pub, "file:///etc/passwd", false, `scheme "file" is not allowed`},
		{"gopher scheme", priv, "gopher://127.0.0.1:70/", false, `scheme "gopher" is not allowed`},
		{"public IP literal", pub, "https://93.184.216.34/", true, ""},
		{"private IP literal allowed by list, no allow_private", pub, "http://10.1.2.3/", false, "private address (10.0.0.0/8) needs allow_private"},
		{"private IP literal with allow_private", priv, "http://10.1.2.3/", true, ""},
		{"name pattern never matches literal", priv, "http://127.0.0.1:9000/", false, "not in the allow list"},
		{"localhost name passes URL check", pub, "http://localhost:9000/", true, ""},
		{"ULA literal", pub, "http://[fd00::1]/", false, "unique local (private) address (fc00::/7)"},
		{"ULA literal allow_private", priv, "http://[fd00::1]/", true, ""},
		{"IPv4-mapped literal", priv, "http://[::ffff:10.1.2.3]/", true, ""},
		{"IPv4-mapped literal no allow_private", pub, "http://[::ffff:10.1.2.3]/", false, "private address"},
		{"empty allow list", HTTPGrant{}, "https://api.example.com/", false, "the allow list is empty"},
		{"star allows any public URL", HTTPGrant{Allow: []string{"*"}}, "http://anything.test:8080/x", true, ""},
		{"star keeps the private guard", HTTPGrant{Allow: []string{"*"}}, "http://127.0.0.1/", false, "loopback"},
		{"star keeps the scheme rule", HTTPGrant{Allow: []string{"*"}}, "ftp://anything.test/", false, `scheme "ftp"`},
		{"star with allow_private", HTTPGrant{Allow: []string{"*"}, AllowPrivate: true}, "http://127.0.0.1/", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := NewEgress(tt.grant)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			err = e.CheckURL(u)
			if tt.allowed {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ee *EgressError
			if !errors.As(err, &ee) || !errors.Is(err, ErrEgressDenied) {
				t.Fatalf("got %v, want an *EgressError", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "egress denied: ") {
				t.Errorf("message %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestEgressCheckURLMalformed(t *testing.T) {
	e, _ := NewEgress(HTTPGrant{Allow: []string{"http://example.com"}})
	for _, raw := range []string{"http:///path", "http://example.com:99999/", "http://bücher.example/", "http://example.com:/"} {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		err = e.CheckURL(u)
		if err == nil || errors.Is(err, ErrEgressDenied) {
			t.Errorf("%q: got %v, want a plain (malformed URL) error", raw, err)
		}
	}
}

func TestSpecialRange(t *testing.T) {
	tests := []struct {
		addr string
		name string // "" for public
	}{
		{"8.8.8.8", ""},
		{"93.184.216.34", ""},
		{"2606:4700:4700::1111", ""},
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"10.0.0.1", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"172.32.0.1", ""},
		{"192.168.1.1", "private"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.255", "carrier-grade NAT"},
		{"100.128.0.1", ""},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"169.254.169.254", "link-local"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"255.255.255.255", "reserved"},
		{"198.18.0.1", "benchmarking"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"::127.0.0.1", "IPv4-compatible (deprecated)"},
		{"fc00::1", "unique local (private)"},
		{"fdff::1", "unique local (private)"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"ff02::1", "multicast"},
		{"::ffff:127.0.0.1", "IPv4-mapped loopback"},
		{"::ffff:10.0.0.1", "IPv4-mapped private"},
		{"::ffff:169.254.169.254", "IPv4-mapped link-local"},
		{"::ffff:8.8.8.8", ""},
		{"64:ff9b::7f00:1", "NAT64-embedded loopback"},
		{"64:ff9b::808:808", ""},
		{"2002:7f00:1::", "6to4-embedded loopback"},
		{"2002:0808:0808::", ""},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		name, _, special := SpecialRange(a)
		if special != (tt.name != "") || name != tt.name {
			t.Errorf("%s: got (%q, %t), want %q", tt.addr, name, special, tt.name)
		}
		pub, _ := NewEgress(HTTPGrant{})
		priv, _ := NewEgress(HTTPGrant{AllowPrivate: true})
		err := pub.CheckIP(net.IP(a.AsSlice()))
		if (err != nil) != special {
			t.Errorf("%s: CheckIP = %v", tt.addr, err)
		}
		if err != nil && !strings.Contains(err.Error(), "needs allow_private") {
			t.Errorf("%s: message %q", tt.addr, err)
		}
		if err := priv.CheckAddr(a); err != nil {
			t.Errorf("%s with allow_private: %v", tt.addr, err)
		}
	}
	if _, _, special := SpecialRange(netip.Addr{}); !special {
		t.Error("invalid address not special")
	}
	pub, _ := NewEgress(HTTPGrant{})
	if err := pub.CheckIP(net.IP{1, 2, 3}); !errors.Is(err, ErrEgressDenied) {
		t.Errorf("malformed IP: %v", err)
	}
}

func TestEndpointString(t *testing.T) {
	tests := map[string]string{
		"http://Example.COM/x":        "http://example.com:80",
		"https://example.com/":        "https://example.com:443",
		"https://example.com.:8443/":  "https://example.com:8443",
		"http://[::1]/":               "http://[::1]:80",
		"http://[::ffff:127.0.0.1]/":  "http://127.0.0.1:80",
		"https://user:pw@10.0.0.1:81": "https://10.0.0.1:81",
	}
	for raw, want := range tests {
		u, _ := url.Parse(raw)
		ep, err := ParseEndpoint(u)
		if err != nil || ep.String() != want {
			t.Errorf("%s: got %q, %v; want %q", raw, ep.String(), err, want)
		}
	}
}

// FuzzCheckURL checks that whatever URL a block sends, CheckURL never
// panics and allows only what the allow list names: an exact host, or a
// proper subdomain of a wildcard, on the pattern's scheme and port, and
// never a special address without allow_private.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://api.example.com/x", "http://a.b.example.org/", "http://example.org/",
		"http://[::ffff:127.0.0.1]:80/", "http://127.0.0.1/", "HTTPS://API.EXAMPLE.COM.:443",
		"http://evil.com#@api.example.com", "http://api.example.com@evil.com/",
		"http://api.example.com%2eevil.com/", "http://0x7f.1/", "ftp://x/", "http://[fe80::1%25eth0]/",
	} {
		f.Add(s)
	}
	e, err := NewEgress(HTTPGrant{Allow: []string{"https://api.example.com", "http://*.example.org", "http://127.0.0.1", "http://[::1]"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		if e.CheckURL(u) != nil {
			return
		}
		ep, err := ParseEndpoint(u)
		if err != nil {
			t.Fatalf("%q allowed but ParseEndpoint fails: %v", raw, err)
		}
		switch {
		case ep.Scheme == "https" && ep.Host == "api.example.com" && ep.Port == 443:
		case ep.Scheme == "http" && ep.Port == 80 && strings.HasSuffix(ep.Host, ".example.org") && len(ep.Host) > len(".example.org") && validHostname(ep.Host):
		default:
			t.Fatalf("%q allowed as %+v", raw, ep)
		}
	})
}
