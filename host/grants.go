package host

import (
	"errors"
	"fmt"
	"slices"

	"github.com/beamline/blockhost/sandbox"
)

// blockGrants is what a block is allowed after the operator's caps.
type blockGrants struct {
	limits    Limits
	http      sandbox.HTTPGrant
	fs        sandbox.FSGrant
	interrupt bool
}

// checkManifest checks what manifest m asks for against what the operator
// allows (the host's limits and the block's policy) and returns the
// grants. Every excess is an error naming the manifest's file and line.
func (h *Host) checkManifest(m *sandbox.Manifest, pol BlockPolicy) (blockGrants, error) {
	g := blockGrants{limits: h.cfg.Limits, interrupt: true}
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", m.Where(path), fmt.Sprintf(format, args...)))
	}
	l := m.Limits
	if l.MemoryPages > h.cfg.Limits.MemoryPages {
		bad("limits.memory_pages", "asks for %d memory pages, over the operator's cap of %d", l.MemoryPages, h.cfg.Limits.MemoryPages)
	} else if l.MemoryPages > 0 {
		g.limits.MemoryPages = l.MemoryPages
		g.limits.MemoryHighWaterPages = min(g.limits.MemoryHighWaterPages, l.MemoryPages/4*3)
	}
	if l.OutputBytes > h.cfg.Limits.MaxOutputBytes {
		bad("limits.output_bytes", "asks for %d output bytes, over the operator's cap of %d", l.OutputBytes, h.cfg.Limits.MaxOutputBytes)
	} else if l.OutputBytes > 0 {
		g.limits.MaxOutputBytes = l.OutputBytes
	}
	if l.LogBytes > h.cfg.Limits.MaxLogBytes {
		bad("limits.log_bytes", "asks for %d log bytes, over the operator's cap of %d", l.LogBytes, h.cfg.Limits.MaxLogBytes)
	} else if l.LogBytes > 0 {
		g.limits.MaxLogBytes = l.LogBytes
	}
	if c := m.Capabilities.HTTP; c != nil {
		switch {
		case !pol.HTTP.Enabled():
			bad("capabilities.http", "asks for HTTP egress; the operator grants block %q none", m.Name)
		case c.AllowPrivate && !pol.HTTP.AllowPrivate:
			bad("capabilities.http.allow_private", "requires private addresses; the operator does not allow them")
		}
		for i, p := range c.Allow {
			switch {
			case p == "*":
				g.http.Allow = append(g.http.Allow, pol.HTTP.Allow...)
			case slices.Contains(pol.HTTP.Allow, p) || slices.Contains(pol.HTTP.Allow, "*"):
				g.http.Allow = append(g.http.Allow, p)
			case pol.HTTP.Enabled():
				bad(fmt.Sprintf("capabilities.http.allow[%d]", i), "asks for %q, which the operator does not grant (granted: %v)", p, pol.HTTP.Allow)
			}
		}
		// Private addresses are the operator's call: a manifest saying
		// allow_private: true requires them, otherwise they are used when
		// granted.
		g.http.AllowPrivate = pol.HTTP.AllowPrivate
		slices.Sort(g.http.Allow)
		g.http.Allow = slices.Compact(g.http.Allow)
	}
	if c := m.Capabilities.FS; c != nil {
		switch {
		case !pol.FS.Enabled():
			bad("capabilities.fs", "asks for a blob space; the operator grants block %q none", m.Name)
		case !c.ReadOnly && pol.FS.ReadOnly:
			bad("capabilities.fs.read_only", "asks to write; the operator grants block %q read-only access", m.Name)
		default:
			g.fs = pol.FS
			g.fs.ReadOnly = pol.FS.ReadOnly || c.ReadOnly
		}
	}
	if m.Interrupt != nil && !*m.Interrupt {
		if !pol.AllowNoInterrupt {
			bad("interrupt", "asks to run without interruption; the operator does not allow it for block %q", m.Name)
		}
		g.interrupt = false
	}
	return g, errors.Join(errs...)
}
