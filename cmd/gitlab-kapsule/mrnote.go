package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// The merge-request note is GitLab's counterpart of the pull-request comment
// pulumi/actions posts: one note per stack, replaced by each new preview.
// GitLab's Notes API (docs.gitlab.com api/notes.md, "Merge requests"):
// GET, POST /projects/:id/merge_requests/:merge_request_iid/notes and
// PUT .../notes/:note_id, each with a body; a note holds at most 1,000,000
// characters (Gitlab::Database::MAX_TEXT_SIZE_LIMIT, validated by Note).
const (
	// noteTokenEnv names the token that may write notes (a project access
	// token with scope api, role Reporter or more): CI_JOB_TOKEN cannot.
	noteTokenEnv = "GITLAB_NOTE_TOKEN"
	// maxNoteBytes keeps the body under GitLab's limit, whatever its characters.
	maxNoteBytes = 1_000_000
)

// ciEnv are the predefined variables of a merge-request pipeline the note needs.
var ciEnv = []string{"CI_API_V4_URL", "CI_MERGE_REQUEST_PROJECT_ID", "CI_MERGE_REQUEST_IID"}

func cmdMRNote(ctx context.Context, o *options, args []string, stdout, stderr io.Writer) error {
	fs, err := parseCommand("mr-note", o, args, stderr, 1, nil)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("mr-note takes the file holding the preview's output, e.g. preview.txt: %w", errUsage)
	}
	token := os.Getenv(noteTokenEnv)
	if token == "" {
		fmt.Fprintf(stdout, "%s is not set: the preview stays a job artifact (set it to a project access token with scope api to get it as a note)\n", noteTokenEnv)
		return nil
	}
	var missing []string
	for _, v := range ciEnv {
		if os.Getenv(v) == "" {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s not set: mr-note runs in a GitLab merge-request pipeline, which sets them", errMissing, strings.Join(missing, ", "))
	}
	output, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("read the preview's output: %w", err)
	}
	n := mrNotes{
		api:     strings.TrimSuffix(os.Getenv("CI_API_V4_URL"), "/"),
		project: os.Getenv("CI_MERGE_REQUEST_PROJECT_ID"),
		mr:      os.Getenv("CI_MERGE_REQUEST_IID"),
		token:   token,
		client:  &http.Client{Timeout: 30 * time.Second},
	}
	id, err := n.publish(ctx, noteBody(o.stack, os.Getenv("CI_PIPELINE_URL"), string(output)), noteMarker(o.stack))
	if err != nil {
		return err
	}
	// CI_MERGE_REQUEST_PROJECT_URL is the project's web address, in merge-request pipelines.
	fmt.Fprintf(stdout, "preview of stack %q posted on merge request !%s: %s/-/merge_requests/%s#note_%d\n",
		o.stack, n.mr, os.Getenv("CI_MERGE_REQUEST_PROJECT_URL"), n.mr, id)
	return nil
}

// noteMarker starts the note of a stack, so the next preview finds and replaces it.
func noteMarker(stack string) string {
	return fmt.Sprintf("<!-- gitlab-kapsule preview: stack %s -->", stack)
}

// ansi matches the terminal escapes a progress stream may carry.
var ansi = regexp.MustCompile("\x1b\\[[0-9;?]*[A-Za-z]")

// noteBody is the note for a preview's output: the marker, a title and the
// output in a folded code block, cut to fit GitLab's limit.
func noteBody(stack, pipelineURL, output string) string {
	title := fmt.Sprintf("#### `gitlab-kapsule preview` of stack `%s`", stack)
	if pipelineURL != "" {
		title += fmt.Sprintf(" ([pipeline](%s))", pipelineURL)
	}
	head := noteMarker(stack) + "\n" + title + "\n\n<details open><summary>Output</summary>\n\n```diff\n"
	tail := "```\n</details>\n"
	output = strings.ReplaceAll(ansi.ReplaceAllString(output, ""), "```", "` ` `")
	room := maxNoteBytes - len(head) - len(tail) - 100
	if len(output) > room {
		cut := room
		for cut > 0 && !utf8.RuneStart(output[cut]) {
			cut--
		}
		output = output[:cut] + "\n… cut to fit GitLab's note limit: the job's preview.txt artifact has it all\n"
	}
	if !strings.HasSuffix(output, "\n") {
		output += "\n"
	}
	return head + output + tail
}

// mrNotes talks to the notes of one merge request.
type mrNotes struct {
	api, project, mr, token string
	client                  *http.Client
}

// note is what the Notes API returns of a note.
type note struct {
	ID     int64  `json:"id"`
	Body   string `json:"body"`
	System bool   `json:"system"`
}

// publish replaces the note that starts with marker, or posts a new one, and
// returns the note's id.
func (n mrNotes) publish(ctx context.Context, body, marker string) (int64, error) {
	notes := n.base()
	existing, err := n.find(ctx, notes, marker)
	if err != nil {
		return 0, err
	}
	method, target := http.MethodPost, notes
	if existing != 0 {
		method, target = http.MethodPut, fmt.Sprintf("%s/%d", notes, existing)
	}
	var saved note
	if err := n.call(ctx, method, target, map[string]string{"body": body}, &saved); err != nil {
		return 0, err
	}
	return saved.ID, nil
}

// base is the merge request's notes endpoint.
func (n mrNotes) base() string {
	return fmt.Sprintf("%s/projects/%s/merge_requests/%s/notes", n.api, url.PathEscape(n.project), url.PathEscape(n.mr))
}

// find returns the id of the newest user note that starts with marker, or 0.
// Notes come newest first by default; the pages are walked until the list ends.
func (n mrNotes) find(ctx context.Context, notes, marker string) (int64, error) {
	for page := 1; page <= 50; page++ {
		var batch []note
		if err := n.call(ctx, http.MethodGet, fmt.Sprintf("%s?per_page=100&page=%d", notes, page), nil, &batch); err != nil {
			return 0, err
		}
		for _, nt := range batch {
			if !nt.System && strings.HasPrefix(nt.Body, marker) {
				return nt.ID, nil
			}
		}
		if len(batch) < 100 {
			break
		}
	}
	return 0, nil
}

// call makes one API request with the token and decodes the JSON answer.
func (n mrNotes) call(ctx context.Context, method, target string, payload any, into any) error {
	var body io.Reader
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return err
	}
	req.Header.Set("PRIVATE-TOKEN", n.token)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("merge-request note: %s %s: %w", method, redactQuery(target), err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("merge-request note: GitLab refuses %s (HTTP %d): give it a project access token with scope api and at least the Reporter role", noteTokenEnv, resp.StatusCode)
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("merge-request note: %s %s answered HTTP %d: %s", method, redactQuery(target), resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if err := json.Unmarshal(data, into); err != nil {
		return fmt.Errorf("merge-request note: %s %s: unexpected answer: %w", method, redactQuery(target), err)
	}
	return nil
}

// redactQuery drops a URL's query, which never matters in a message.
func redactQuery(target string) string {
	before, _, _ := strings.Cut(target, "?")
	return before
}
