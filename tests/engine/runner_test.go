package engine

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	k8smeta "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitlab-kapsule/gitlab-kapsule/components"
	"github.com/gitlab-kapsule/gitlab-kapsule/tests/harness"
)

// Namespaces and values of the runner tests, apart from the other tests'.
const (
	runnerNS       = "glk-engine-runner"
	runnerNoCANS   = "glk-engine-runner-noca"
	runnerGitLab   = "https://10.0.0.10"
	runnerCAFile   = "10.0.0.10.crt"
	runnerTokenVal = "glrt-engine-test-runner-token-0123456789"
	// runnerSecretMarker marks a secret value in Pulumi's state.
	runnerSecretMarker = "4dabf18193072939515e22adb298388d"
)

// runnerCase is one run of the runner's cluster side.
type runnerCase struct {
	stack, namespace string
	// caPEM is GitLab's private CA; empty means no TLS, so no CA Secret.
	caPEM string
	// secretToken passes the token as a secret, as NewRunner does (the
	// UserRunner's token output); false passes it in plain text, to prove
	// that DeclareRunnerClusterAccess hides it on its own.
	secretToken bool
}

// runnerProgram runs the runner's cluster side exactly as NewRunner does
// (components.DeclareRunnerClusterAccess), with a Kubernetes provider fed a
// secret kubeconfig as Kapsule's output feeds it. The GitLab registration
// and the Helm release are left out: they need GitLab and the chart.
func runnerProgram(kubeconfig []byte, tc runnerCase) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		prov, err := kubernetes.NewProvider(ctx, "kapsule", &kubernetes.ProviderArgs{
			Kubeconfig: pulumi.ToSecret(pulumi.String(string(kubeconfig))).(pulumi.StringOutput),
		})
		if err != nil {
			return err
		}
		var token pulumi.StringInput = pulumi.String(runnerTokenVal)
		if tc.secretToken {
			token = pulumi.ToSecret(token).(pulumi.StringOutput)
		}
		args := &components.RunnerClusterAccessArgs{
			Namespace: tc.namespace,
			Token:     token,
			GitLabURL: pulumi.String(runnerGitLab),
		}
		if tc.caPEM != "" {
			args.CACert = pulumi.String(tc.caPEM)
		}
		_, err = components.DeclareRunnerClusterAccess(ctx, "runner", args, pulumi.Provider(prov))
		return err
	}
}

// TestRunnerClusterAccessUnderEngine: the real engine creates the runner's
// namespace, service accounts, Role, token Secret and CA Secret in a real
// API server, shaped as the gitlab-runner chart reads them; the token is
// not in plain text in the state file; a second up changes nothing;
// destroy removes it all.
func TestRunnerClusterAccessUnderEngine(t *testing.T) {
	runnerAccessUnderEngine(t, runnerCase{stack: "runner", namespace: runnerNS, caPEM: testCAPEM(t), secretToken: true})
}

// TestRunnerClusterAccessWithoutCAUnderEngine: without TLS (no CACert)
// there is no CA Secret, and the rest is the same, with the token passed
// in plain text.
func TestRunnerClusterAccessWithoutCAUnderEngine(t *testing.T) {
	runnerAccessUnderEngine(t, runnerCase{stack: "runner-noca", namespace: runnerNoCANS})
}

func runnerAccessUnderEngine(t *testing.T, tc runnerCase) {
	kube := harness.SharedKube(t)
	eng := harness.NewEngine(t)
	eng.InstallKubernetesPlugin(t)
	c := kube.Clientset
	ctx := t.Context()
	get := k8smeta.GetOptions{}
	ns := tc.namespace

	s := eng.Stack(t, harness.StackOptions{Stack: tc.stack, Program: runnerProgram(kube.KubeConfig, tc)})
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			_, _ = s.Destroy(context.Background())
		}
	})

	start := time.Now()
	harness.Up(t, s)
	t.Logf("first up took %s", time.Since(start).Round(time.Millisecond))

	// The token Secret, as the chart's runners.secret mounts it: both keys
	// (a missing one fails the pod's volume), the registration token empty.
	token, err := c.CoreV1().Secrets(ns).Get(ctx, components.RunnerTokenSecret, get)
	if err != nil {
		t.Fatalf("the runner's token Secret: %v", err)
	}
	if token.Type != corev1.SecretTypeOpaque {
		t.Errorf("the token Secret has type %q, want Opaque", token.Type)
	}
	if got := string(token.Data["runner-token"]); got != runnerTokenVal {
		t.Errorf("the token Secret's runner-token = %q, want the runner's token", got)
	}
	if reg, ok := token.Data["runner-registration-token"]; !ok || len(reg) != 0 {
		t.Errorf("the token Secret's runner-registration-token = %q (present %v), want present and empty", reg, ok)
	}
	if keys := secretKeys(token); !slices.Equal(keys, []string{"runner-registration-token", "runner-token"}) {
		t.Errorf("the token Secret holds keys %v, want runner-registration-token and runner-token", keys)
	}

	// The CA Secret: the runner reads "<GitLab host>.crt" in its certs
	// folder, where certsSecretName mounts this Secret.
	ca, err := c.CoreV1().Secrets(ns).Get(ctx, components.RunnerCASecret, get)
	switch {
	case tc.caPEM == "" && !apierrors.IsNotFound(err):
		t.Errorf("without TLS the CA Secret exists (%v), want none", err)
	case tc.caPEM != "" && err != nil:
		t.Errorf("the runner's CA Secret: %v", err)
	case tc.caPEM != "":
		if got := string(ca.Data[runnerCAFile]); got != tc.caPEM {
			t.Errorf("the CA Secret's %s = %q, want GitLab's CA", runnerCAFile, got)
		}
		if keys := secretKeys(ca); !slices.Equal(keys, []string{runnerCAFile}) {
			t.Errorf("the CA Secret holds keys %v, want only %s", keys, runnerCAFile)
		}
	}

	// The service accounts: the manager's token is mounted (it calls the
	// API), the jobs' is not.
	for _, sa := range []struct {
		name      string
		automount bool
	}{{components.RunnerServiceAccount, true}, {components.RunnerJobServiceAccount, false}} {
		got, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, sa.name, get)
		if err != nil {
			t.Errorf("service account %s: %v", sa.name, err)
			continue
		}
		if got.AutomountServiceAccountToken == nil || *got.AutomountServiceAccountToken != sa.automount {
			t.Errorf("service account %s has automountServiceAccountToken %v, want %v", sa.name, ptrString(got.AutomountServiceAccountToken), sa.automount)
		}
	}

	// The Role and its binding are RunnerRBAC's, and bind the manager only.
	wantRole, wantBinding := components.RunnerRBAC(ns)
	role, err := c.RbacV1().Roles(ns).Get(ctx, wantRole.Name, get)
	if err != nil {
		t.Errorf("the runner's Role: %v", err)
	} else if !apiequality.Semantic.DeepEqual(role.Rules, wantRole.Rules) {
		t.Errorf("the runner's Role has rules %+v, want RunnerRBAC's %+v", role.Rules, wantRole.Rules)
	}
	binding, err := c.RbacV1().RoleBindings(ns).Get(ctx, wantBinding.Name, get)
	if err != nil {
		t.Errorf("the runner's RoleBinding: %v", err)
	} else {
		if binding.RoleRef != wantBinding.RoleRef {
			t.Errorf("the runner's RoleBinding refers to %+v, want %+v", binding.RoleRef, wantBinding.RoleRef)
		}
		if !slices.Equal(binding.Subjects, []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: components.RunnerServiceAccount, Namespace: ns}}) {
			t.Errorf("the runner's RoleBinding binds %+v, want the manager's service account only", binding.Subjects)
		}
	}
	manager := harness.ServiceAccountUser(ns, components.RunnerServiceAccount)
	job := harness.ServiceAccountUser(ns, components.RunnerJobServiceAccount)
	for _, r := range []struct {
		user, verb, resource string
		want                 bool
	}{
		{manager, "create", "pods", true},
		{manager, "create", "pods/attach", true},
		{manager, "get", "secrets", true},
		{manager, "list", "secrets", false},
		{job, "get", "pods", false},
		{job, "get", "secrets", false},
	} {
		if got := harness.Expect(t, c, r.user, r.verb, r.resource, ns, r.want); got != r.want {
			t.Errorf("%s may %s %s in %s: %v, want %v", r.user, r.verb, r.resource, ns, got, r.want)
		}
	}

	runnerSecretsHidden(t, eng, s, tc)

	start = time.Now()
	if changed := harness.Changed(harness.Up(t, s).Summary); len(changed) != 0 {
		t.Errorf("a second up changed %v, want nothing", changed)
	}
	t.Logf("second up took %s", time.Since(start).Round(time.Millisecond))

	harness.Destroy(t, s)
	destroyed = true
	for _, name := range []string{components.RunnerTokenSecret, components.RunnerCASecret} {
		if _, err := c.CoreV1().Secrets(ns).Get(ctx, name, get); !apierrors.IsNotFound(err) {
			t.Errorf("Secret %s survived destroy: %v", name, err)
		}
	}
	for _, name := range []string{components.RunnerServiceAccount, components.RunnerJobServiceAccount} {
		if _, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, name, get); !apierrors.IsNotFound(err) {
			t.Errorf("service account %s survived destroy: %v", name, err)
		}
	}
	if _, err := c.RbacV1().Roles(ns).Get(ctx, wantRole.Name, get); !apierrors.IsNotFound(err) {
		t.Errorf("the runner's Role survived destroy: %v", err)
	}
	if _, err := c.RbacV1().RoleBindings(ns).Get(ctx, wantBinding.Name, get); !apierrors.IsNotFound(err) {
		t.Errorf("the runner's RoleBinding survived destroy: %v", err)
	}
	harness.NamespaceGone(t, c, ns)
}

// runnerSecretsHidden fails the test if the stack's state file, as the
// file:// backend wrote it, holds the runner's token in plain text or in
// base64 (as a Secret's data carries it). Stack.Export decrypts (the
// Automation API exports with --show-secrets): it is the control that the
// token is in the state at all, under a secret marker, and that the state
// holds a CA Secret exactly when there is a CA.
func runnerSecretsHidden(t *testing.T, eng *harness.Engine, s auto.Stack, tc runnerCase) {
	t.Helper()
	file, raw := stateFile(t, eng, s)
	encoded := base64.StdEncoding.EncodeToString([]byte(runnerTokenVal))
	if strings.Contains(string(raw), runnerTokenVal) || strings.Contains(string(raw), encoded) {
		t.Errorf("the state file %s holds the runner's token in plain text", file)
	}

	exported, err := s.Export(t.Context())
	if err != nil {
		t.Fatalf("export the stack's state: %v", err)
	}
	holdsToken := func(v string) bool { return strings.Contains(v, runnerTokenVal) || strings.Contains(v, encoded) }
	if !holdsToken(string(exported.Deployment)) {
		t.Fatal("the decrypted state holds no runner token: the check of the state file proves nothing")
	}
	var d struct {
		Resources []struct {
			URN     string                     `json:"urn"`
			Type    string                     `json:"type"`
			Inputs  map[string]json.RawMessage `json:"inputs"`
			Outputs map[string]json.RawMessage `json:"outputs"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(exported.Deployment, &d); err != nil {
		t.Fatalf("read the stack's state: %v", err)
	}
	secrets, checked := 0, 0
	for _, r := range d.Resources {
		if r.Type != "kubernetes:core/v1:Secret" {
			continue
		}
		secrets++
		if !strings.HasSuffix(r.URN, "::runner-token-secret") {
			continue
		}
		for _, part := range []map[string]json.RawMessage{r.Inputs, r.Outputs} {
			for _, key := range []string{"data", "stringData"} {
				v, ok := part[key]
				if !ok || !holdsToken(string(v)) {
					continue
				}
				checked++
				if !strings.Contains(string(v), runnerSecretMarker) {
					t.Errorf("the token Secret's %s in the state is not a secret: %s", key, v)
				}
			}
		}
	}
	if checked == 0 {
		t.Error("no data or stringData of the token Secret in the decrypted state holds the token: the secret marker check proves nothing")
	}
	want := 1
	if tc.caPEM != "" {
		want = 2
	}
	if secrets != want {
		t.Errorf("the state holds %d Secrets, want %d", secrets, want)
	}
}

// secretKeys returns a Secret's data keys, sorted.
func secretKeys(s *corev1.Secret) []string {
	var keys []string
	for k := range s.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func ptrString(b *bool) string {
	if b == nil {
		return "unset"
	}
	if *b {
		return "true"
	}
	return "false"
}

// testCAPEM makes a throwaway self-signed CA certificate, in PEM, standing
// in for GitLabHost's CACert.
func testCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "glk-engine-test-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
