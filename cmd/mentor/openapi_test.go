package main

import (
	"bytes"
	"context"
	_ "embed"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oapi-codegen/oapi-codegen/v2/pkg/codegen"
	"github.com/oapi-codegen/oapi-codegen/v2/pkg/util"
	// The generated client imports the runtime; importing it here keeps it in go.mod and its
	// hashes in go.sum, which the client's throwaway module copies.
	_ "github.com/oapi-codegen/runtime"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// oas31Schema is the official JSON Schema of OpenAPI 3.1 documents
// (https://spec.openapis.org/oas/3.1/schema/2026-08-03), as the npm package
// @seriousme/openapi-schema-validator 2.11.0 ships it: the network here reaches no other copy.
//
//go:embed testdata/openapi-3.1.schema.json
var oas31Schema []byte

// TestOpenAPIDocumentDrivesAGeneratedClient fetches the document from `mentor serve`,
// validates it against the OpenAPI 3.1 schema, generates a Go client from it with
// oapi-codegen, and builds and runs a program with that client against the same server: it
// signs in, lists projects and reads the version, and a wrong password comes back as the
// documented error body.
func TestOpenAPIDocumentDrivesAGeneratedClient(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a generated client")
	}
	m := startMentor(t, nil)
	res, err := http.Get(m.base + "/api/v1/openapi.json")
	require.NoError(t, err)
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", raw)
	assert.Contains(t, res.Header.Get("Content-Type"), "application/json")

	// Valid OpenAPI 3.1.
	c := jsonschema.NewCompiler()
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(oas31Schema))
	require.NoError(t, err)
	require.NoError(t, c.AddResource("oas31.json", schemaDoc))
	schema, err := c.Compile("oas31.json")
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	require.NoError(t, err)
	require.NoError(t, schema.Validate(doc), "the document is not valid OpenAPI 3.1")

	// A client generated from it.
	dir := t.TempDir()
	specPath := filepath.Join(dir, "openapi.json")
	require.NoError(t, os.WriteFile(specPath, raw, 0o600))
	spec, err := util.LoadSwagger(specPath)
	require.NoError(t, err)
	code, err := codegen.Generate(spec, codegen.Configuration{PackageName: "main",
		Generate: codegen.GenerateOptions{Client: true, Models: true}})
	require.NoError(t, err)
	require.NoError(t, os.Remove(specPath))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "client.gen.go"), []byte(code), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(clientProgram), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(clientModule(t)), 0o600))
	sum, err := os.ReadFile(filepath.Join(moduleRoot(t), "go.sum"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o600))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	login := "admin"
	cmd := exec.CommandContext(ctx, "go", "run", ".", m.base+"/api/v1", login, m.passwords[login])
	cmd.Dir = dir
	// Only modules this repository already depends on, from the local cache.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOSUMDB=off")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the generated client does not build or run:\n%s", out)
	assert.Contains(t, string(out), "version: schema ")
	assert.Contains(t, string(out), "signed in: admin")
	assert.Contains(t, string(out), "projects: ")
	assert.Contains(t, string(out), "wrong password: 401 unauthenticated")
}

// clientProgram uses the generated client as a script would.
const clientProgram = `package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
)

func main() {
	if err := run(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}

func run(base, login, password string) error {
	ctx := context.Background()
	jar, _ := cookiejar.New(nil)
	c, err := NewClientWithResponses(base, WithHTTPClient(&http.Client{Jar: jar}))
	if err != nil {
		return err
	}
	v, err := c.GetVersionWithResponse(ctx)
	if err != nil || v.JSON200 == nil {
		return fmt.Errorf("version: %v %s", err, v.Body)
	}
	fmt.Printf("version: schema %d\n", v.JSON200.SchemaVersion)

	bad, err := c.PostSessionWithResponse(ctx, PostSessionJSONRequestBody{Login: login, Password: password + "x"})
	if err != nil || bad.JSON401 == nil {
		return fmt.Errorf("wrong password: %v %s", err, bad.Body)
	}
	fmt.Printf("wrong password: %d %s\n", bad.StatusCode(), bad.JSON401.Error.Code)

	s, err := c.PostSessionWithResponse(ctx, PostSessionJSONRequestBody{Login: login, Password: password})
	if err != nil || s.JSON200 == nil {
		return fmt.Errorf("sign in: %v %s", err, s.Body)
	}
	fmt.Printf("signed in: %s\n", s.JSON200.User.Login)

	p, err := c.GetProjectsWithResponse(ctx)
	if err != nil || p.JSON200 == nil || p.JSON200.Projects == nil {
		return fmt.Errorf("projects: %v %s", err, p.Body)
	}
	fmt.Printf("projects: %d\n", len(*p.JSON200.Projects))
	for _, pr := range *p.JSON200.Projects {
		fmt.Printf("  %s\n", pr.Slug)
	}
	return nil
}
`

// clientModule is the go.mod of the generated client's throwaway module: the runtime and its
// dependencies at the versions this repository uses.
func clientModule(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "\t{{.Path}} {{.Version}}",
		"github.com/oapi-codegen/runtime", "github.com/google/uuid", "github.com/apapsch/go-jsonmerge/v2")
	cmd.Dir = moduleRoot(t)
	out, err := cmd.Output()
	require.NoError(t, err, "the versions of the generated client's dependencies")
	return "module mentorclient\n\ngo 1.26\n\nrequire (\n" + string(out) + ")\n"
}

// moduleRoot is the repository's root, where go.mod is.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	return filepath.Dir(strings.TrimSpace(string(out)))
}
