package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Isolation says which steps may share an instance of a block.
type Isolation string

// Isolation modes.
const (
	// IsolationTenant (the default) reuses an instance only for steps of
	// the same tenant.
	IsolationTenant Isolation = "tenant"
	// IsolationShared reuses instances across tenants.
	IsolationShared Isolation = "shared"
	// IsolationStep gives every step a fresh instance.
	IsolationStep Isolation = "step"
)

// Manifest describes a block: NAME.yaml beside NAME.wasm.
type Manifest struct {
	// Name identifies the block; defaults to the file name without .wasm.
	Name string `yaml:"name"`
	// Version is free text shown in listings.
	Version string `yaml:"version"`
	// Types are the step types the block serves; at least one.
	Types []string `yaml:"types"`
	// Resources.Class pins the resource pool (cpu, gpu, io); empty means
	// by type prefix.
	Resources struct {
		Class string `yaml:"class"`
	} `yaml:"resources"`
	// Isolation defaults to IsolationTenant.
	Isolation Isolation `yaml:"isolation"`
	// Limits lower the host's limits for this block; zero keeps the host's.
	Limits Limits `yaml:"limits"`
	// Config values are readable by the block with config_get.
	Config map[string]string `yaml:"config"`
}

// Limits are per-block limits. Zero fields inherit the host's.
type Limits struct {
	// MemoryPages caps the instance's linear memory in 64 KiB pages.
	MemoryPages uint32 `yaml:"memory_pages"`
	// WarmInstances is how many idle instances are kept however long they
	// idle (1 by default).
	WarmInstances int `yaml:"warm_instances"`
}

var typeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,127}$`)

// Validate checks m and fills defaults. fallbackName is used when Name is
// empty.
func (m *Manifest) Validate(fallbackName string) error {
	if m.Name == "" {
		m.Name = fallbackName
	}
	var errs []error
	if !typeRE.MatchString(m.Name) {
		errs = append(errs, fmt.Errorf("name %q: want lower-case letters, digits, '.', '_' or '-' (at most 128)", m.Name))
	}
	if len(m.Types) == 0 {
		errs = append(errs, errors.New("types: at least one step type is required"))
	}
	seen := map[string]bool{}
	for _, t := range m.Types {
		if !typeRE.MatchString(t) {
			errs = append(errs, fmt.Errorf("types: %q is not a valid step type", t))
		}
		if seen[t] {
			errs = append(errs, fmt.Errorf("types: %q listed twice", t))
		}
		seen[t] = true
	}
	switch m.Resources.Class {
	case "", "cpu", "gpu", "io":
	default:
		errs = append(errs, fmt.Errorf("resources.class %q: want cpu, gpu or io", m.Resources.Class))
	}
	if m.Limits.WarmInstances < 0 {
		errs = append(errs, fmt.Errorf("limits.warm_instances must not be negative"))
	}
	switch m.Isolation {
	case "":
		m.Isolation = IsolationTenant
	case IsolationTenant, IsolationShared, IsolationStep:
	default:
		errs = append(errs, fmt.Errorf("isolation %q: want tenant, shared or step", m.Isolation))
	}
	return errors.Join(errs...)
}

// ParseManifest decodes and validates a manifest. Unknown fields are errors
// that name the line.
func ParseManifest(data []byte, fallbackName string) (Manifest, error) {
	var m Manifest
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil && !errors.Is(err, io.EOF) {
		return Manifest{}, fmt.Errorf("manifest: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := m.Validate(fallbackName); err != nil {
		return Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	return m, nil
}
