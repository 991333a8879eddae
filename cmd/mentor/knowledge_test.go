package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/mentor-ai/mentor/internal/pgtest"
)

func TestImportDocumentsAndSearchFromTheCommandLine(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	_, err = conn.Exec(context.Background(), `INSERT INTO projects (slug, name) VALUES ('customs', '海关')`)
	require.NoError(t, err)
	conn.Close(context.Background())

	dir := t.TempDir()
	write := func(name string, data []byte) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}
	gbk, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte("现金申报\n携带人民币现钞超过20000元应当申报。"))
	require.NoError(t, err)
	write("postal.md", []byte("# 邮递物品\n\n个人邮寄进境物品，税额50元以下免征。"))
	write("rules/cash.txt", gbk)
	write("rules/broken.txt", []byte("\x00\x01binary"))
	write("photo.png", []byte("\x89PNG"))
	write(".draft.md", []byte("# 草稿"))

	env := envFunc(map[string]string{"DATABASE_URL": dsn})
	importDocs := func() (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"mentor", "import", "documents", "--project", "customs", "--corpus", "kb", dir}, env, nil, &stdout, &stderr)
		return stdout.String() + stderr.String(), err
	}
	out, err := importDocs()
	require.Error(t, err, "a failed file makes the exit status non-zero")
	assert.Contains(t, err.Error(), "1 of 3 documents failed")
	assert.Contains(t, out, "created corpus kb in project customs (embedder offline-ngram-256, 256 dimensions)")
	assert.Contains(t, out, "added     postal.md (v1, 1 chunks)")
	assert.Contains(t, out, "added     rules/cash.txt (v1, 1 chunks)")
	assert.Contains(t, out, "failed    rules/broken.txt: a binary file, not text")
	assert.Contains(t, out, "skipped   photo.png: unsupported file type")
	assert.NotContains(t, out, "draft")
	assert.Contains(t, out, "3 files, 1 skipped: 2 documents added, 0 updated, 0 unchanged, 1 failed; 2 chunks written")

	require.NoError(t, os.Remove(filepath.Join(dir, "rules/broken.txt")))
	out, err = importDocs()
	require.NoError(t, err, out)
	assert.Contains(t, out, "unchanged postal.md")
	assert.Contains(t, out, "2 files, 1 skipped: 0 documents added, 0 updated, 2 unchanged, 0 failed; 0 chunks written")

	var stdout, stderr bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"mentor", "search", "--project", "customs", "--corpus", "kb", "--k", "1", "现钞"}, env, nil, &stdout, &stderr), stderr.String())
	assert.Contains(t, stdout.String(), " 1. ")
	assert.Contains(t, stdout.String(), "rules/cash.txt v1")
	assert.Contains(t, stdout.String(), "携带人民币现钞")

	stdout.Reset()
	err = run(context.Background(), []string{"mentor", "search", "--project", "customs", "--corpus", "nope", "税"}, env, nil, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `--corpus: corpus "nope"`)
}
