package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// notesAPI stands in for GitLab's merge-request Notes API as documented
// (docs.gitlab.com api/notes.md): GET .../merge_requests/:iid/notes lists
// the notes newest first, in pages (per_page, page); POST creates a note
// from body and answers 201 with it; PUT .../notes/:id replaces its body;
// a request without a valid PRIVATE-TOKEN gets 401.
type notesAPI struct {
	mu     sync.Mutex
	token  string
	notes  []note // oldest first
	nextID int64
	calls  []string
}

func (a *notesAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, r.Method)
	if r.Header.Get("PRIVATE-TOKEN") != a.token {
		http.Error(w, `{"message":"401 Unauthorized"}`, http.StatusUnauthorized)
		return
	}
	const base = "/api/v4/projects/42/merge_requests/7/notes"
	var in struct {
		Body string `json:"body"`
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == base:
		perPage, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		var newest []note
		for i := len(a.notes) - 1; i >= 0; i-- {
			newest = append(newest, a.notes[i])
		}
		from, to := min((page-1)*perPage, len(newest)), min(page*perPage, len(newest))
		_ = json.NewEncoder(w).Encode(newest[from:to])
	case r.Method == http.MethodPost && r.URL.Path == base:
		_ = json.NewDecoder(r.Body).Decode(&in)
		a.nextID++
		n := note{ID: a.nextID, Body: in.Body}
		a.notes = append(a.notes, n)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(n)
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, base+"/"):
		id, _ := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, base+"/"), 10, 64)
		_ = json.NewDecoder(r.Body).Decode(&in)
		for i := range a.notes {
			if a.notes[i].ID == id {
				a.notes[i].Body = in.Body
				_ = json.NewEncoder(w).Encode(a.notes[i])
				return
			}
		}
		http.Error(w, `{"message":"404 Not found"}`, http.StatusNotFound)
	default:
		http.Error(w, `{"message":"404 Not found"}`, http.StatusNotFound)
	}
}

// inMergeRequestPipeline sets what GitLab sets in a merge-request pipeline.
func inMergeRequestPipeline(t *testing.T, api *notesAPI) {
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	t.Setenv("CI_API_V4_URL", srv.URL+"/api/v4")
	t.Setenv("CI_MERGE_REQUEST_PROJECT_ID", "42")
	t.Setenv("CI_MERGE_REQUEST_IID", "7")
	t.Setenv("CI_PIPELINE_URL", "https://gitlab.example/p/-/pipelines/9")
	t.Setenv("CI_MERGE_REQUEST_PROJECT_URL", "https://gitlab.example/p")
}

func previewFile(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "preview.txt")
	require.NoError(t, os.WriteFile(f, []byte(content), 0o600))
	return f
}

func TestMRNoteReplacesItsOwnNote(t *testing.T) {
	api := &notesAPI{token: "glpat-note"}
	// Notes of people and of another stack's preview are not touched.
	api.notes = []note{{ID: 100, Body: "LGTM"}, {ID: 101, Body: noteMarker("prod") + "\nold prod preview"}}
	api.nextID = 101
	for i := range 120 { // more than a page of other notes
		api.nextID++
		api.notes = append(api.notes, note{ID: api.nextID, Body: "comment " + strconv.Itoa(i)})
	}
	inMergeRequestPipeline(t, api)
	t.Setenv(noteTokenEnv, "glpat-note")

	code, out, errOut := runCLI("--dir", projectDir(t), "mr-note", previewFile(t, "\x1b[1m+ gitlab:index:Project agent-project create\x1b[0m\nResources: 1 to create\n"))
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, `preview of stack "dev" posted on merge request !7: https://gitlab.example/p/-/merge_requests/7#note_222`)
	require.Len(t, api.notes, 123, "a new note")
	first := api.notes[122]
	assert.True(t, strings.HasPrefix(first.Body, noteMarker("dev")), first.Body)
	assert.Contains(t, first.Body, "+ gitlab:index:Project agent-project create\nResources: 1 to create")
	assert.NotContains(t, first.Body, "\x1b[", "terminal escapes are stripped")
	assert.Contains(t, first.Body, "https://gitlab.example/p/-/pipelines/9")

	// The next preview of the same stack replaces that note, even when newer
	// comments push it beyond the first page.
	for i := range 150 {
		api.nextID++
		api.notes = append(api.notes, note{ID: api.nextID, Body: "later " + strconv.Itoa(i)})
	}
	code, _, errOut = runCLI("--dir", projectDir(t), "mr-note", previewFile(t, "Resources: 2 unchanged\n"))
	require.Equal(t, 0, code, errOut)
	assert.Len(t, api.notes, 273, "no second note")
	assert.Contains(t, api.notes[122].Body, "Resources: 2 unchanged")
	assert.NotContains(t, api.notes[122].Body, "to create")
	assert.Equal(t, noteMarker("prod")+"\nold prod preview", api.notes[1].Body)
	assert.Equal(t, "LGTM", api.notes[0].Body)
}

func TestMRNoteWithoutTokenKeepsTheArtifact(t *testing.T) {
	api := &notesAPI{token: "x"}
	inMergeRequestPipeline(t, api)
	t.Setenv(noteTokenEnv, "")
	code, out, _ := runCLI("--dir", projectDir(t), "mr-note", previewFile(t, "x\n"))
	assert.Equal(t, 0, code)
	assert.Contains(t, out, noteTokenEnv+" is not set: the preview stays a job artifact")
	assert.Empty(t, api.calls, "nothing is sent")
}

func TestMRNoteFailuresNameTheFix(t *testing.T) {
	api := &notesAPI{token: "right"}
	inMergeRequestPipeline(t, api)
	t.Setenv(noteTokenEnv, "wrong")
	code, _, errOut := runCLI("--dir", projectDir(t), "mr-note", previewFile(t, "x\n"))
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "GitLab refuses "+noteTokenEnv+" (HTTP 401): give it a project access token with scope api")
	assert.NotContains(t, errOut, "wrong", "the token is never printed")

	t.Setenv("CI_MERGE_REQUEST_IID", "")
	code, _, errOut = runCLI("--dir", projectDir(t), "mr-note", previewFile(t, "x\n"))
	assert.Equal(t, exitMissing, code)
	assert.Contains(t, errOut, "CI_MERGE_REQUEST_IID not set: mr-note runs in a GitLab merge-request pipeline")

	code, _, _ = runCLI("--dir", projectDir(t), "mr-note")
	assert.Equal(t, exitUsage, code)
}

func TestNoteBodyFitsGitLabsLimit(t *testing.T) {
	t.Parallel()
	body := noteBody("dev", "", strings.Repeat("é résumé ", 300_000))
	assert.LessOrEqual(t, len(body), maxNoteBytes)
	assert.Contains(t, body, "cut to fit GitLab's note limit")
	assert.True(t, strings.HasSuffix(body, "```\n</details>\n"), "the code block is closed")
	assert.True(t, json.Valid([]byte(strconv.Quote(body))), "valid UTF-8 after the cut")
	assert.NotContains(t, noteBody("dev", "", "a ``` b"), "a ``` b", "the output cannot close the code block")
}
