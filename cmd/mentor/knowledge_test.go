package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

	// A JSONL file of three transactions (200, 200, 50 rows), written while the next is
	// prepared (issue 17): a row that fails in the second fails alone and is named by its
	// line, a slug repeated in the first is its second version, and the last transaction's
	// rows are searchable.
	var jsonl bytes.Buffer
	for i := 1; i <= 450; i++ {
		row := map[string]string{"slug": fmt.Sprintf("faq-%d", i), "title": fmt.Sprintf("问答%d", i), "body": fmt.Sprintf("第%d问：旅客携带物品应当申报。", i)}
		switch i {
		case 7:
			row["slug"], row["body"] = "faq-3", "第3问（修订）：旅客携带物品应当书面申报。"
		case 301:
			row["body"] = "坏\u0000字符"
		case 450:
			row["body"] = "第450问：燕窝须出具检疫证书。"
		}
		b, err := json.Marshal(row)
		require.NoError(t, err)
		jsonl.Write(append(b, '\n'))
	}
	write("faq.jsonl", jsonl.Bytes())
	out, err = importDocs()
	require.Error(t, err, out)
	assert.Contains(t, out, "failed    faq.jsonl:301: body: contains a NUL character")
	assert.Contains(t, out, "updated   faq.jsonl:7 (v2, 1 chunks)")
	assert.Contains(t, out, "3 files, 1 skipped: 448 documents added, 1 updated, 2 unchanged, 1 failed; 449 chunks written")
	stdout.Reset()
	require.NoError(t, run(context.Background(), []string{"mentor", "search", "--project", "customs", "--corpus", "kb", "--k", "1", "燕窝检疫"}, env, nil, &stdout, &stderr), stderr.String())
	assert.Contains(t, stdout.String(), "faq-450 v1")
}
