package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
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
	// Secrets names config keys whose values are never logged.
	Secrets []string `yaml:"secrets"`
	// Capabilities are what the block asks for; the operator's grant caps
	// them, and a manifest asking more than granted is refused.
	Capabilities Capabilities `yaml:"capabilities"`
	// Interrupt false asks to run without guest interruption at the
	// deadline (for compute-heavy blocks); only honoured when the operator
	// allows it for this block. Default true.
	Interrupt *bool `yaml:"interrupt"`

	// File is where the manifest was read from, for error messages.
	File string `yaml:"-"`
	// Lines maps field paths (e.g. "limits.memory_pages",
	// "capabilities.http.allow[1]") to their line in File.
	Lines map[string]int `yaml:"-"`
}

// Capabilities are the I/O a block asks for.
type Capabilities struct {
	// HTTP asks for egress; Allow lists scheme://host[:port] patterns, or
	// "*" for whatever the operator grants.
	HTTP *struct {
		Allow        []string `yaml:"allow"`
		AllowPrivate bool     `yaml:"allow_private"`
	} `yaml:"http"`
	// FS asks for a blob space; the operator chooses its root.
	FS *struct {
		ReadOnly bool `yaml:"read_only"`
	} `yaml:"fs"`
}

// Where returns "FILE:LINE" of a field path, as precise as known.
func (m *Manifest) Where(path string) string {
	file := m.File
	if file == "" {
		file = "manifest " + m.Name
	}
	for p := path; p != ""; {
		if l, ok := m.Lines[p]; ok {
			return file + ":" + strconv.Itoa(l)
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return file
}

// recordLines walks a YAML node and records the line of every field path.
func recordLines(n *yaml.Node, path string, lines map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			recordLines(c, path, lines)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if path != "" {
				k = path + "." + k
			}
			lines[k] = n.Content[i].Line
			recordLines(n.Content[i+1], k, lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			k := path + "[" + strconv.Itoa(i) + "]"
			lines[k] = c.Line
			recordLines(c, k, lines)
		}
	}
}

// Limits are per-block limits. Zero fields inherit the host's.
type Limits struct {
	// MemoryPages caps the instance's linear memory in 64 KiB pages.
	MemoryPages uint32 `yaml:"memory_pages"`
	// WarmInstances is how many idle instances are kept however long they
	// idle (1 by default).
	WarmInstances int `yaml:"warm_instances"`
	// OutputBytes caps the step's outputs; LogBytes its guest log.
	OutputBytes int64 `yaml:"output_bytes"`
	LogBytes    int   `yaml:"log_bytes"`
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
	if m.Limits.OutputBytes < 0 || m.Limits.LogBytes < 0 {
		errs = append(errs, fmt.Errorf("limits: sizes must not be negative"))
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

// ParseManifest decodes and validates a manifest read from file (used in
// messages). Unknown fields are errors that name the line.
func ParseManifest(data []byte, file, fallbackName string) (Manifest, error) {
	var m Manifest
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil && !errors.Is(err, io.EOF) {
		return Manifest{}, yamlError(file, err)
	}
	var root yaml.Node
	m.Lines = map[string]int{}
	if yaml.Unmarshal(data, &root) == nil {
		recordLines(&root, "", m.Lines)
	}
	m.File = file
	if err := m.Validate(fallbackName); err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", file, err)
	}
	return m, nil
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError rewrites a YAML decoding error as "FILE:LINE: reason" lines.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var errs []error
	for _, m := range msgs {
		m = strings.TrimSpace(m)
		if g := yamlLineRE.FindStringSubmatch(m); g != nil {
			errs = append(errs, fmt.Errorf("%s:%s: %s", file, g[1], g[2]))
		} else {
			errs = append(errs, fmt.Errorf("%s: %s", file, strings.TrimPrefix(m, "yaml: ")))
		}
	}
	return errors.Join(errs...)
}
