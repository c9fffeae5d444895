package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/testenv"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// ActionlintDirEnv names the folder holding actionlint; tools/build-actionlint prints it.
const ActionlintDirEnv = "GLK_ACTIONLINT_DIR"

// actionlint returns the actionlint binary: from $GLK_ACTIONLINT_DIR, or
// built into the tool cache by tools/build-actionlint.
func actionlint(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(ActionlintDirEnv)
	if dir == "" {
		testenv.Tool(t, "go", "install Go")
		cmd := exec.Command(filepath.Join(harness.RepoRoot(t), "tools", "build-actionlint"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			testenv.Missing(t, "actionlint", fmt.Sprintf("tools/build-actionlint failed: %v", err))
		}
		m := regexp.MustCompile(`export GLK_ACTIONLINT_DIR=(\S+)`).FindSubmatch(out)
		require.NotNil(t, m, "tools/build-actionlint printed %q", out)
		dir = strings.Trim(string(m[1]), `'"`)
	}
	bin := filepath.Join(dir, "actionlint")
	if _, err := os.Stat(bin); err != nil {
		testenv.Missing(t, bin, `run eval "$(tools/build-actionlint)"`)
	}
	return bin
}

// runActionlint checks the workflows of the repository at root.
func runActionlint(t *testing.T, root string, files ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(actionlint(t), append([]string{"-no-color"}, files...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	require.NoError(t, err, "actionlint did not run: %s", out)
	return string(out), 0
}

// TestPreviewWorkflowPassesActionlint runs actionlint over the workflow:
// syntax, expressions, permission scopes, the inputs of pulumi/actions@v6
// and, where shellcheck is installed, the run: scripts.
func TestPreviewWorkflowPassesActionlint(t *testing.T) {
	root := harness.RepoRoot(t)
	out, code := runActionlint(t, root, ".github/workflows/preview.yml")
	assert.Zero(t, code, "actionlint findings:\n%s", out)
}

// TestActionlintCatchesMistakes is the negative control: the same workflow
// with a misspelt pulumi/actions input and permission scope must fail.
func TestActionlintCatchesMistakes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), ".github", "workflows", "preview.yml"))
	require.NoError(t, err)
	broken := strings.Replace(string(b), "comment-on-pr: true", "comment-on-pull-request: true", 1)
	broken = strings.Replace(broken, "pull-requests: write", "pull-request: write", 1)
	require.NotEqual(t, string(b), broken)
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".github", "workflows"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".github", "workflows", "preview.yml"), []byte(broken), 0o644))
	out, code := runActionlint(t, dir, ".github/workflows/preview.yml")
	assert.Equal(t, 1, code, "actionlint must fail:\n%s", out)
	assert.Contains(t, out, `input "comment-on-pull-request" is not defined in action "pulumi/actions@v6"`)
	assert.Contains(t, out, `unknown permission scope "pull-request"`)
}

// workflow is the part of a GitHub workflow the assertions read.
type workflow struct {
	// On is the triggers: sigs.k8s.io/yaml reads YAML 1.1, where the bare
	// key on means true.
	On          map[string]any    `json:"true"`
	Permissions map[string]string `json:"permissions"`
	Jobs        map[string]struct {
		Permissions map[string]string `json:"permissions"`
		Steps       []struct {
			Uses string            `json:"uses"`
			Run  string            `json:"run"`
			With map[string]any    `json:"with"`
			Env  map[string]string `json:"env"`
		} `json:"steps"`
	} `json:"jobs"`
}

// TestPreviewWorkflowShape asserts what actionlint cannot: a preview that
// comments on the pull request, with the least permissions, a pinned
// action and CLI, and credentials only from secrets.
func TestPreviewWorkflowShape(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), ".github", "workflows", "preview.yml"))
	require.NoError(t, err)
	var wf workflow
	require.NoError(t, yaml.Unmarshal(b, &wf))
	assert.Contains(t, wf.On, "pull_request")
	assert.Equal(t, map[string]string{"contents": "read", "pull-requests": "write"}, wf.Permissions, "least permissions")
	found := false
	for name, job := range wf.Jobs {
		assert.Empty(t, job.Permissions, "job %s widens no permission", name)
		// The engine finds the readiness provider on PATH (Pulumi.yaml
		// names no plugin folder): the build must put its folder there
		// before the preview runs.
		onPath := false
		for _, s := range job.Steps {
			if strings.Contains(s.Run, "pulumi-resource-gitlabwait") && strings.Contains(s.Run, `>> "$GITHUB_PATH"`) {
				onPath = true
			}
			if strings.HasPrefix(s.Uses, "pulumi/actions@") {
				assert.True(t, onPath, "job %s puts the readiness provider on PATH before pulumi/actions", name)
			}
		}
		for _, s := range job.Steps {
			if s.Uses != "" {
				assert.Regexp(t, `@v\d+(\.\d+)*$`, s.Uses, "actions are pinned to a version")
			}
			if !strings.HasPrefix(s.Uses, "pulumi/actions@") {
				continue
			}
			found = true
			assert.Equal(t, "pulumi/actions@v6", s.Uses)
			assert.Equal(t, "preview", s.With["command"])
			assert.Equal(t, true, s.With["comment-on-pr"])
			assert.Equal(t, true, s.With["diff"])
			assert.Equal(t, "3.274.1", s.With["pulumi-version"], "the CLI the project is tested with")
			for _, k := range []string{"SCW_ACCESS_KEY", "SCW_SECRET_KEY", "SCW_DEFAULT_PROJECT_ID", "PULUMI_CONFIG_PASSPHRASE"} {
				assert.Equal(t, "${{ secrets."+k+" }}", s.Env[k], "%s comes from the repository's secrets", k)
			}
		}
	}
	assert.True(t, found, "a pulumi/actions step")
}

// gitlabJob is the part of a GitLab CI job the assertions read.
type gitlabJob struct {
	Stage         string              `json:"stage"`
	Image         string              `json:"image"`
	Extends       string              `json:"extends"`
	Rules         []map[string]string `json:"rules"`
	ResourceGroup string              `json:"resource_group"`
	Script        []string            `json:"script"`
	AfterScript   []string            `json:"after_script"`
	Environment   map[string]string   `json:"environment"`
}

// gitlabProblems lists what is wrong with a .gitlab-ci.yml: the checks
// that TestGitLabCI asserts, kept apart so the negative control can show
// that they catch mistakes.
func gitlabProblems(raw []byte) ([]string, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	jobs := map[string]gitlabJob{}
	for name, v := range doc {
		m, ok := v.(map[string]any)
		if !ok || name == "variables" || name == "default" || name == "workflow" {
			continue
		}
		b, err := yaml.Marshal(m)
		if err != nil {
			return nil, err
		}
		var j gitlabJob
		if err := yaml.Unmarshal(b, &j); err != nil {
			return nil, fmt.Errorf("job %s: %w", name, err)
		}
		jobs[name] = j
	}
	stages, _ := doc["stages"].([]any)
	if fmt.Sprint(stages) != "[preview deploy]" {
		bad("stages are %v, want [preview deploy]", stages)
	}
	if vars, ok := doc["variables"].(map[string]any); ok {
		for k := range vars {
			if strings.HasPrefix(k, "SCW_") || strings.Contains(k, "PASSPHRASE") || strings.HasPrefix(k, "AWS_") {
				bad("credential %s is written in the file: it belongs in masked CI/CD variables", k)
			}
		}
	}
	image := func(name string) string {
		j := jobs[name]
		for range 5 {
			if j.Image != "" || j.Extends == "" {
				break
			}
			j = jobs[j.Extends]
		}
		return j.Image
	}
	pinned := regexp.MustCompile(`^[\w./-]+:\d+(\.\d+)+[\w.-]*$`)
	for name := range jobs {
		if strings.HasPrefix(name, ".") {
			continue
		}
		if img := image(name); !pinned.MatchString(img) {
			bad("job %s: image %q is not pinned to a version", name, img)
		}
	}
	// job returns the named job, when there is one, checking its stage.
	job := func(name, stage string) (gitlabJob, bool) {
		j, ok := jobs[name]
		switch {
		case !ok:
			bad("no %s job", name)
		case j.Stage != stage:
			bad("%s job in stage %q", name, j.Stage)
		}
		return j, ok
	}
	if preview, ok := job("preview", "preview"); ok {
		if len(preview.Rules) != 1 || preview.Rules[0]["if"] != `$CI_PIPELINE_SOURCE == "merge_request_event"` {
			bad("the preview job must run on merge requests only, rules: %v", preview.Rules)
		}
		if !strings.Contains(strings.Join(preview.Script, "\n"), " preview") {
			bad("the preview job does not run a preview")
		}
		// The note goes out also when the preview failed: after_script.
		if !strings.Contains(strings.Join(preview.AfterScript, "\n"), " mr-note preview.txt") {
			bad("the preview job does not post its output as a merge-request note (after_script: gitlab-kapsule mr-note preview.txt)")
		}
	}
	if up, ok := job("up", "deploy"); ok {
		if len(up.Rules) != 1 || !strings.Contains(up.Rules[0]["if"], "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH") {
			bad("the up job must run on the default branch only, rules: %v", up.Rules)
		}
		if up.ResourceGroup == "" {
			bad("the up job has no resource_group: two pipelines would race for the stack's lock")
		}
		if up.Environment["name"] == "" {
			bad("the up job has no environment to protect")
		}
		if !strings.HasSuffix(strings.Join(up.Script, "\n"), " up") {
			bad("the up job does not run up")
		}
	}
	return problems, nil
}

// TestGitLabCI parses .gitlab-ci.yml and asserts its jobs.
func TestGitLabCI(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), ".gitlab-ci.yml"))
	require.NoError(t, err)
	problems, err := gitlabProblems(raw)
	require.NoError(t, err)
	assert.Empty(t, problems)
}

// TestGitLabCIChecksCatchMistakes is the negative control of TestGitLabCI.
func TestGitLabCIChecksCatchMistakes(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), ".gitlab-ci.yml"))
	require.NoError(t, err)
	s := string(raw)
	for _, edit := range []struct{ from, to, want string }{
		{"golang:1.26.6-bookworm", "golang:latest", "is not pinned"},
		{"  resource_group: pulumi-dev\n", "", "no resource_group"},
		{`$CI_PIPELINE_SOURCE == "merge_request_event"`, `$CI_PIPELINE_SOURCE == "push"`, "merge requests only"},
		{"  STACK: dev\n", "  STACK: dev\n  SCW_SECRET_KEY: abc\n", "credential SCW_SECRET_KEY"},
		{"  - deploy\n", "", "stages are"},
		{` mr-note preview.txt`, ` outputs`, "merge-request note"},
	} {
		broken := strings.Replace(s, edit.from, edit.to, 1)
		require.NotEqual(t, s, broken, "edit %q applies", edit.from)
		problems, err := gitlabProblems([]byte(broken))
		require.NoError(t, err)
		assert.Contains(t, strings.Join(problems, "\n"), edit.want, "edit %q", edit.from)
	}
}
