package sandbox

// HTTPGrant is what a block may reach over HTTP. The zero value allows
// nothing: egress is denied by default.
type HTTPGrant struct {
	// Allow lists scheme://host[:port] patterns; a host may start with
	// "*." to match subdomains. Empty denies every request.
	Allow []string
	// AllowPrivate lets the block reach loopback, private and link-local
	// addresses, which are refused otherwise.
	AllowPrivate bool
}

// Enabled reports whether the grant allows anything.
func (g HTTPGrant) Enabled() bool { return len(g.Allow) > 0 }

// FSGrant is the blob space of a block. The zero value grants none.
type FSGrant struct {
	// Root is the directory the block's keys live under.
	Root string
	// ReadOnly refuses put and delete.
	ReadOnly bool
	// PerTenant puts each tenant's keys under Root/<tenant_id>/.
	PerTenant bool
	// Fallback is an optional second root that takes writes while Root's
	// circuit breaker is open.
	Fallback string
}

// Enabled reports whether the grant has a root.
func (g FSGrant) Enabled() bool { return g.Root != "" }
