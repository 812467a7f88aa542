package httpcap

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/sandbox"
)

// TestSSRF runs requests that must be refused with abi.Denied before any
// byte reaches the loopback server they would land on.
func TestSSRF(t *testing.T) {
	verifyNoLeaks(t)
	target := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secret")) })
	tu, _ := url.Parse(target.URL)
	port := tu.Port()
	other := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	redirector := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})
	loop := netip.MustParseAddr("127.0.0.1")
	c := newClient(t, Config{Resolver: staticResolver{
		"rebind.test":   {loop},
		"mapped.test":   {netip.MustParseAddr("::ffff:127.0.0.1")},
		"mixed.test":    {netip.MustParseAddr("93.184.216.34"), loop},
		"metadata.test": {netip.MustParseAddr("169.254.169.254")},
	}})
	public := func(allow ...string) sandbox.HTTPGrant { return sandbox.HTTPGrant{Allow: allow} }
	redirectTo := func(to string) string { return redirector.URL + "/?to=" + url.QueryEscape(to) }
	withRedirector := func(allow ...string) sandbox.HTTPGrant {
		return sandbox.HTTPGrant{Allow: append([]string{origin(redirector.URL)}, allow...), AllowPrivate: true}
	}

	tests := []struct {
		name  string
		grant sandbox.HTTPGrant
		url   string
		want  []string // in the message
	}{
		{"no grant", sandbox.HTTPGrant{}, target.URL, []string{"allow list is empty"}},
		{"not in allow list", public("https://api.example.com"), target.URL, []string{origin(target.URL), "not in the allow list"}},
		{"loopback literal without allow_private", public("http://127.0.0.1:" + port), target.URL, []string{"127.0.0.1", "loopback address (127.0.0.0/8) needs allow_private"}},
		{"private literal", public("http://10.0.0.1"), "http://10.0.0.1/", []string{"private address (10.0.0.0/8)"}},
		{"link-local metadata literal", public("http://169.254.169.254"), "http://169.254.169.254/latest/meta-data/", []string{"link-local"}},
		{"unspecified literal", public("http://0.0.0.0:" + port), "http://0.0.0.0:" + port + "/", []string{"unspecified"}},
		{"IPv4-mapped literal", public("http://127.0.0.1:" + port), "http://[::ffff:127.0.0.1]:" + port + "/", []string{"loopback"}},
		{"IPv6 loopback literal", public("http://[::1]:" + port), "http://[::1]:" + port + "/", []string{"loopback address (::1/128)"}},
		{"localhost resolves to loopback", public("http://localhost:" + port), "http://localhost:" + port + "/", []string{"egress denied: localhost", "loopback"}},
		{"name rebinding to loopback", public("http://rebind.test:" + port), "http://rebind.test:" + port + "/", []string{"egress denied: rebind.test (127.0.0.1): loopback"}},
		{"name resolving to mapped loopback", public("http://mapped.test:" + port), "http://mapped.test:" + port + "/", []string{"IPv4-mapped loopback"}},
		{"one private address among public ones", public("http://mixed.test:" + port), "http://mixed.test:" + port + "/", []string{"mixed.test (127.0.0.1)"}},
		{"name resolving to metadata", public("http://metadata.test"), "http://metadata.test/", []string{"169.254.169.254", "link-local"}},
		{"ftp scheme", public("http://127.0.0.1:" + port), "ftp://127.0.0.1:" + port + "/", []string{`scheme "ftp" is not allowed`}},
		{"file scheme", public("http://127.0.0.1"), "file:///etc/passwd", []string{`scheme "file"`}},
		{"redirect to a host not allowed", withRedirector(), redirectTo(target.URL), []string{origin(target.URL), "not in the allow list"}},
		{"redirect to a name", withRedirector(), redirectTo("http://evil.test/"), []string{"http://evil.test:80", "not in the allow list"}},
		{"redirect to another port", withRedirector(), redirectTo(other.URL), []string{origin(other.URL)}},
		{"redirect to ftp", withRedirector(), redirectTo("ftp://127.0.0.1/"), []string{`scheme "ftp"`}},
		{"redirect to file", withRedirector(), redirectTo("file:///etc/passwd"), []string{`scheme "file"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := target.hits.Load() + other.hits.Load()
			_, _, err := get(t, c, tt.grant, tt.url)
			e := wantCode(t, err, abi.Denied, tt.want...)
			if !errors.Is(e, sandbox.ErrEgressDenied) {
				t.Errorf("%v does not wrap sandbox.ErrEgressDenied", e)
			}
			if n := target.hits.Load() + other.hits.Load() - before; n != 0 {
				t.Errorf("the refused target was hit %d times", n)
			}
		})
	}
	// Sanity: the same targets are reachable when the grant allows them.
	if code, body, err := get(t, c, grantFor(target.URL), redirector.URL+"/?to="+url.QueryEscape(target.URL)); err == nil {
		t.Errorf("redirector not in grant: %d %q", code, body)
	}
	if code, body, err := get(t, c, withRedirector(origin(target.URL)), redirectTo(target.URL+"/ok")); err != nil || code != 200 || body != "secret" {
		t.Errorf("allowed redirect: %d %q %v", code, body, err)
	}
	g := sandbox.HTTPGrant{Allow: []string{"http://rebind.test:" + port}, AllowPrivate: true}
	if code, _, err := get(t, c, g, "http://rebind.test:"+port+"/"); err != nil || code != 200 {
		t.Errorf("rebind.test with allow_private: %d %v", code, err)
	}
}

// A connection pooled for a grant with AllowPrivate is never reused for a
// grant without it: the two grants use different transports.
func TestPooledPrivateConnNotReused(t *testing.T) {
	verifyNoLeaks(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	c := newClient(t, Config{Resolver: staticResolver{"svc.test": {netip.MustParseAddr("127.0.0.1")}}})
	u := "http://svc.test:" + port + "/"
	priv := sandbox.HTTPGrant{Allow: []string{"http://svc.test:" + port}, AllowPrivate: true}
	if code, _, err := get(t, c, priv, u); err != nil || code != 200 {
		t.Fatalf("private grant: %d %v", code, err)
	}
	pub := sandbox.HTTPGrant{Allow: priv.Allow}
	_, _, err := get(t, c, pub, u)
	wantCode(t, err, abi.Denied, "svc.test (127.0.0.1)")
	if srv.hits.Load() != 1 {
		t.Errorf("hits %d", srv.hits.Load())
	}
}

// HTTP_PROXY and friends are ignored: the request goes straight to its
// target (whose name is not "localhost", which net/http never proxies).
func TestProxyEnvironmentIgnored(t *testing.T) {
	verifyNoLeaks(t)
	proxy := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("via proxy")) })
	target := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("direct")) })
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"} {
		t.Setenv(k, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	port := target.URL[strings.LastIndex(target.URL, ":")+1:]
	c := newClient(t, Config{Resolver: staticResolver{"target.test": {netip.MustParseAddr("127.0.0.1")}}})
	g := sandbox.HTTPGrant{Allow: []string{"http://target.test:" + port}, AllowPrivate: true}
	code, body, err := get(t, c, g, "http://target.test:"+port+"/")
	if err != nil || code != 200 || body != "direct" {
		t.Fatalf("%d %q %v", code, body, err)
	}
	if proxy.hits.Load() != 0 || target.hits.Load() != 1 {
		t.Errorf("proxy hits %d, target hits %d", proxy.hits.Load(), target.hits.Load())
	}
	// Without AllowPrivate the proxy's loopback address would not save it
	// either: the check is on the target's address.
	_, _, err = get(t, c, sandbox.HTTPGrant{Allow: g.Allow}, "http://target.test:"+port+"/")
	wantCode(t, err, abi.Denied, "target.test (127.0.0.1)")
}

func TestInvalidGrant(t *testing.T) {
	c := newClient(t, Config{})
	_, err := c.Do(context.Background(), sandbox.HTTPGrant{Allow: []string{"gopher://x"}}, Request{URL: "http://x/"})
	wantCode(t, err, abi.Denied, "invalid HTTP grant", "gopher://x")
}
