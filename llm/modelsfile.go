package llm

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ModelsFile is the YAML file that lists endpoints and their models.
//
//	endpoints:
//	  - name: deepseek
//	    base_url: https://api.deepseek.com/v1
//	    api_key_env: DEEPSEEK_API_KEY   # the variable holding the key; omit for local servers
//	    max_concurrent: 8               # streams at once, per model (default 8)
//	    requests_per_minute: 60         # optional
//	    models:
//	      - name: deepseek-chat         # as prompt versions name it
//	        remote_name: deepseek-chat  # as the endpoint knows it (default: name)
//	        temperature: 0.7            # optional defaults
//	        max_tokens: 2048
type ModelsFile struct {
	Endpoints []EndpointSpec `yaml:"endpoints"`
}

// EndpointSpec is one OpenAI-compatible endpoint.
type EndpointSpec struct {
	Name              string      `yaml:"name"`
	BaseURL           string      `yaml:"base_url"`
	APIKeyEnv         string      `yaml:"api_key_env"`
	MaxConcurrent     int         `yaml:"max_concurrent"`
	RequestsPerMinute int         `yaml:"requests_per_minute"`
	Models            []ModelSpec `yaml:"models"`
}

// ModelSpec is one model on an endpoint.
type ModelSpec struct {
	Name              string   `yaml:"name"`
	RemoteName        string   `yaml:"remote_name"`
	Temperature       *float32 `yaml:"temperature"`
	TopP              *float32 `yaml:"top_p"`
	MaxTokens         *int     `yaml:"max_tokens"`
	MaxConcurrent     int      `yaml:"max_concurrent"`
	RequestsPerMinute int      `yaml:"requests_per_minute"`
}

var (
	namePattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$`)
	envVarPattern = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
)

// LoadModelsFile reads and checks a models file. Every error names the file, the line and
// the problem.
func LoadModelsFile(path string) (ModelsFile, error) {
	var f ModelsFile
	b, err := os.ReadFile(path)
	if err != nil {
		return f, fmt.Errorf("models file %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("models file %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return f, fmt.Errorf("models file %s: %w", path, err)
	}
	fail := func(msg string, at ...any) error {
		return fmt.Errorf("models file %s, line %d: %s", path, lineOf(&root, at...), msg)
	}
	if len(f.Endpoints) == 0 {
		return f, fail("no endpoints: list at least one under `endpoints:`")
	}
	names, endpointNames := map[string]bool{}, map[string]bool{}
	for i := range f.Endpoints {
		ep := &f.Endpoints[i]
		at := func(key string) []any { return []any{"endpoints", i, key} }
		if !namePattern.MatchString(ep.Name) {
			return f, fail(fmt.Sprintf("endpoints[%d].name: must be letters, digits and . _ : / @ -, got %q", i, ep.Name), at("name")...)
		}
		if endpointNames[ep.Name] {
			return f, fail(fmt.Sprintf("endpoints[%d].name: %q is already taken", i, ep.Name), at("name")...)
		}
		endpointNames[ep.Name] = true
		u, err := url.Parse(ep.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return f, fail(fmt.Sprintf("endpoints[%d].base_url: must be an http(s) URL, got %q", i, ep.BaseURL), at("base_url")...)
		}
		if ep.APIKeyEnv != "" && !envVarPattern.MatchString(ep.APIKeyEnv) {
			return f, fail(fmt.Sprintf("endpoints[%d].api_key_env: must name an environment variable (like DEEPSEEK_API_KEY), not hold a key", i), at("api_key_env")...)
		}
		if ep.MaxConcurrent < 0 || ep.RequestsPerMinute < 0 {
			return f, fail(fmt.Sprintf("endpoints[%d]: limits must not be negative", i), "endpoints", i)
		}
		if ep.MaxConcurrent == 0 {
			ep.MaxConcurrent = 8
		}
		if len(ep.Models) == 0 {
			return f, fail(fmt.Sprintf("endpoints[%d] (%s): no models listed", i, ep.Name), "endpoints", i)
		}
		for j, m := range ep.Models {
			mat := func(key string) []any { return []any{"endpoints", i, "models", j, key} }
			where := fmt.Sprintf("endpoints[%d].models[%d]", i, j)
			switch {
			case !namePattern.MatchString(m.Name):
				return f, fail(fmt.Sprintf("%s.name: must be letters, digits and . _ : / @ -, got %q", where, m.Name), mat("name")...)
			case names[m.Name] || m.Name == BaselineThorough || m.Name == BaselineBrief:
				return f, fail(fmt.Sprintf("%s.name: %q is already taken", where, m.Name), mat("name")...)
			case m.Temperature != nil && (*m.Temperature < 0 || *m.Temperature > 2):
				return f, fail(fmt.Sprintf("%s.temperature: must be between 0 and 2, got %g", where, *m.Temperature), mat("temperature")...)
			case m.TopP != nil && (*m.TopP <= 0 || *m.TopP > 1):
				return f, fail(fmt.Sprintf("%s.top_p: must be greater than 0 and at most 1, got %g", where, *m.TopP), mat("top_p")...)
			case m.MaxTokens != nil && *m.MaxTokens <= 0:
				return f, fail(fmt.Sprintf("%s.max_tokens: must be positive, got %d", where, *m.MaxTokens), mat("max_tokens")...)
			case m.MaxConcurrent < 0 || m.RequestsPerMinute < 0:
				return f, fail(where+": limits must not be negative", "endpoints", i, "models", j)
			}
			names[m.Name] = true
		}
	}
	return f, nil
}

// lineOf follows a path of mapping keys and sequence indexes through a YAML document and
// returns the line it ends on, or the deepest line it could reach.
func lineOf(root *yaml.Node, path ...any) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, step := range path {
		var next *yaml.Node
		switch s := step.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for k := 0; k+1 < len(n.Content); k += 2 {
					if n.Content[k].Value == s {
						next = n.Content[k+1]
						line = n.Content[k].Line
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && s < len(n.Content) {
				next = n.Content[s]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}
