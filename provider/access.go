package provider

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/gitlab-kapsule/gitlab-kapsule/internal/sshbastion"
)

// Defaults of the inputs every resource has; the default timeout is each
// resource's own (DefaultTimeout, DefaultAgentTimeout, DefaultPipelineTimeout).
const (
	// DefaultTargetPort is GitLab's plain HTTP port.
	DefaultTargetPort = 80
	// DefaultScheme is plain HTTP.
	DefaultScheme = "http"
	// DefaultPollInterval caps the pause between attempts.
	DefaultPollInterval = "15s"
)

// Access is how a wait reaches GitLab through the bastion and how long it
// waits: the inputs every resource takes, embedded in each one's Args so
// that they have the same names, descriptions, defaults and checks.
type Access struct {
	// BastionHost is the Public Gateway's public address.
	BastionHost string `pulumi:"bastionHost"`
	// BastionPort is the SSH bastion's port.
	BastionPort int `pulumi:"bastionPort"`
	// BastionUser is the bastion's login; sshbastion.ScalewayUser when empty.
	BastionUser string `pulumi:"bastionUser,optional"`
	// PrivateKey is the OpenSSH or PKCS#8 PEM private key the bastion trusts.
	PrivateKey string `pulumi:"privateKey" provider:"secret"`
	// HostKeyFingerprint pins the bastion's host key; empty trusts on first use.
	HostKeyFingerprint string `pulumi:"hostKeyFingerprint,optional"`
	// TargetHost is GitLab's private address.
	TargetHost string `pulumi:"targetHost" diff:"replace"`
	// TargetPort is GitLab's HTTP(S) port.
	TargetPort int `pulumi:"targetPort,optional" diff:"replace"`
	// Scheme is "http" or "https".
	Scheme string `pulumi:"scheme,optional" diff:"replace"`
	// CaCert is the PEM CA of GitLab's certificate, for https.
	CaCert string `pulumi:"caCert,optional"`
	// Timeout is the longest wait, as a Go duration; its default is the resource's.
	Timeout string `pulumi:"timeout,optional"`
	// PollInterval caps the pause between attempts, as a Go duration.
	PollInterval string `pulumi:"pollInterval,optional"`
}

var _ infer.Annotated = (*Access)(nil)

// Annotate documents the inputs and sets their defaults, but for Timeout's:
// infer merges an embedded struct's annotations after those of the struct
// that embeds it when a State embeds Args that embed Access, so a default
// set here would override each resource's own.
func (a *Access) Annotate(an infer.Annotator) {
	an.Describe(&a.BastionHost, "The Public Gateway's public address.")
	an.Describe(&a.BastionPort, "The SSH bastion's port (Scaleway's default is 61000).")
	describeDefault(an, &a.BastionUser, "The bastion's login.", sshbastion.ScalewayUser)
	an.Describe(&a.PrivateKey, "The OpenSSH (or PKCS#8) PEM private key that the bastion trusts.")
	an.Describe(&a.HostKeyFingerprint, "Pins the bastion's host key (SHA256:...); unset trusts the first key seen.")
	an.Describe(&a.TargetHost, "GitLab's private address, as reached from the bastion.")
	describeDefault(an, &a.TargetPort, "GitLab's HTTP(S) port.", DefaultTargetPort)
	describeDefault(an, &a.Scheme, "http or https.", DefaultScheme)
	an.Describe(&a.CaCert, "PEM CA that signs GitLab's certificate, for https.")
	an.Describe(&a.Timeout, "The longest wait, as a Go duration.")
	describeDefault(an, &a.PollInterval, "The cap of the pause between attempts, as a Go duration.", DefaultPollInterval)
}

// withDefaults returns the inputs with the empty optional ones filled, the
// timeout with the resource's default.
func (a Access) withDefaults(timeout string) Access {
	setIfZero(&a.BastionUser, sshbastion.ScalewayUser)
	setIfZero(&a.TargetPort, DefaultTargetPort)
	setIfZero(&a.Scheme, DefaultScheme)
	setIfZero(&a.Timeout, timeout)
	setIfZero(&a.PollInterval, DefaultPollInterval)
	return a
}

func setIfZero[T comparable](field *T, value T) {
	var zero T
	if *field == zero {
		*field = value
	}
}

// fieldError is a problem with one input, named by its key.
type fieldError struct {
	key    string
	reason string
}

func (e fieldError) Error() string { return e.key + ": " + e.reason }

// fieldErrors collects the problems of the inputs whose value is known.
type fieldErrors struct {
	known func(key string) bool
	errs  []fieldError
}

// add records a problem with key, unless its value is not known yet.
func (f *fieldErrors) add(key, format string, args ...any) {
	if f.known(key) {
		f.errs = append(f.errs, fieldError{key, fmt.Sprintf(format, args...)})
	}
}

// validate checks the inputs (filled with their defaults), into f.
func (a Access) validate(f *fieldErrors) {
	if a.BastionHost == "" {
		f.add("bastionHost", "is empty: set it to the Public Gateway's public address")
	}
	if a.BastionPort < 1 || a.BastionPort > 65535 {
		f.add("bastionPort", "%d is not a TCP port: set the bastion's port (Scaleway's default is 61000)", a.BastionPort)
	}
	if _, err := sshbastion.ParsePrivateKey(a.PrivateKey); err != nil {
		f.add("privateKey", "%v", err)
	}
	if _, err := NormalizeFingerprint(a.HostKeyFingerprint); err != nil {
		f.add("hostKeyFingerprint", "%v", err)
	}
	if a.TargetHost == "" || strings.ContainsAny(a.TargetHost, "/ ") {
		f.add("targetHost", "%q is not a host: set GitLab's private address", a.TargetHost)
	}
	if a.TargetPort < 1 || a.TargetPort > 65535 {
		f.add("targetPort", "%d is not a TCP port", a.TargetPort)
	}
	if a.Scheme != "http" && a.Scheme != "https" {
		f.add("scheme", "%q must be http or https", a.Scheme)
	}
	if a.CaCert != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(a.CaCert)) {
		f.add("caCert", "holds no PEM certificate")
	}
	if d, err := time.ParseDuration(a.Timeout); err != nil || d <= 0 {
		f.add("timeout", "%q is not a positive Go duration such as 30m", a.Timeout)
	}
	if d, err := time.ParseDuration(a.PollInterval); err != nil || d <= 0 {
		f.add("pollInterval", "%q is not a positive Go duration such as 15s", a.PollInterval)
	}
}

// config is the wait the inputs describe, asking GitLab for pathQuery (a path
// and an optional "?query") with token. The inputs must have been validated.
func (a Access) config(pathQuery, token string) (Config, error) {
	signer, err := sshbastion.ParsePrivateKey(a.PrivateKey)
	if err != nil {
		return Config{}, fmt.Errorf("privateKey: %w", err)
	}
	pinned, _ := NormalizeFingerprint(a.HostKeyFingerprint)
	timeout, _ := time.ParseDuration(a.Timeout)
	poll, _ := time.ParseDuration(a.PollInterval)
	var roots *x509.CertPool
	if a.CaCert != "" {
		roots = x509.NewCertPool()
		roots.AppendCertsFromPEM([]byte(a.CaCert))
	}
	u := url.URL{Scheme: a.Scheme, Host: net.JoinHostPort(a.TargetHost, strconv.Itoa(a.TargetPort))}
	u.Path, u.RawQuery, _ = strings.Cut(pathQuery, "?")
	return Config{
		BastionAddr:        net.JoinHostPort(a.BastionHost, strconv.Itoa(a.BastionPort)),
		BastionUser:        a.BastionUser,
		Signer:             signer,
		HostKeyFingerprint: pinned,
		URL:                u.String(),
		RootCAs:            roots,
		Token:              token,
		Timeout:            timeout,
		PollInterval:       poll,
	}, nil
}

// resourceArgs is what each resource's Args does with its inputs.
type resourceArgs[A any] interface {
	// withDefaults returns the inputs with the empty optional ones filled.
	withDefaults() A
	// validate checks the inputs (filled with their defaults), into f.
	validate(f *fieldErrors)
}

// checkInputs is every resource's Check: the defaults, then a failure per
// invalid input; values not yet known (during a preview) are checked later.
func checkInputs[A resourceArgs[A]](ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[A], error) {
	args, failures, err := infer.DefaultCheck[A](ctx, req.NewInputs)
	if err != nil || len(failures) > 0 {
		return infer.CheckResponse[A]{Inputs: args, Failures: failures}, err
	}
	args = args.withDefaults()
	f := fieldErrors{known: func(key string) bool { return !req.NewInputs.Get(key).IsComputed() }}
	args.validate(&f)
	for _, e := range f.errs {
		failures = append(failures, p.CheckFailure{Property: e.key, Reason: e.reason})
	}
	return infer.CheckResponse[A]{Inputs: args, Failures: failures}, nil
}

// validInputs returns args filled with their defaults, or one error that
// names every invalid input of the resource.
func validInputs[A resourceArgs[A]](resource string, args A) (A, error) {
	args = args.withDefaults()
	f := fieldErrors{known: func(string) bool { return true }}
	args.validate(&f)
	if len(f.errs) > 0 {
		msgs := make([]string, len(f.errs))
		for i, e := range f.errs {
			msgs[i] = e.Error()
		}
		return args, fmt.Errorf("invalid %s inputs: %s", resource, strings.Join(msgs, "; "))
	}
	return args, nil
}

// Diff sees the inputs as their declaration says: the pulumi tag names each
// one, and diff:"replace" marks those whose change means another GitLab,
// agent or pipeline, so replaces the resource and waits again.

// inputField is one input as Diff sees it.
type inputField struct {
	name    string
	replace bool
	index   []int
}

// inputFields are the inputs declared by t, a resource's Args, in order.
func inputFields(t reflect.Type) []inputField {
	var fields []inputField
	for _, f := range reflect.VisibleFields(t) {
		name, _, _ := strings.Cut(f.Tag.Get("pulumi"), ",")
		if f.Anonymous || !f.IsExported() || name == "" {
			continue
		}
		fields = append(fields, inputField{name: name, replace: f.Tag.Get("diff") == "replace", index: f.Index})
	}
	return fields
}

// replaceKeys are the inputs of A whose change replaces the resource.
func replaceKeys[A any]() []string {
	var keys []string
	for _, f := range inputFields(reflect.TypeFor[A]()) {
		if f.replace {
			keys = append(keys, f.name)
		}
	}
	return keys
}

// diffInputs compares two sets of inputs, filled with their defaults: a
// change of an input marked replace replaces the resource (and so waits
// again), any other is an update that waits for nothing.
func diffInputs[A any](olds, news A) infer.DiffResponse {
	ov, nv := reflect.ValueOf(olds), reflect.ValueOf(news)
	detailed := map[string]p.PropertyDiff{}
	for _, f := range inputFields(nv.Type()) {
		if ov.FieldByIndex(f.index).Equal(nv.FieldByIndex(f.index)) {
			continue
		}
		kind := p.Update
		if f.replace {
			kind = p.UpdateReplace
		}
		detailed[f.name] = p.PropertyDiff{Kind: kind, InputDiff: true}
	}
	return infer.DiffResponse{HasChanges: len(detailed) > 0, DetailedDiff: detailed}
}

// replacedBy says, for a resource's description, which inputs replace it:
// "A new a, b or c replaces it, which waits again".
func replacedBy(replaceKeys []string) string {
	last := len(replaceKeys) - 1
	return "A new " + strings.Join(replaceKeys[:last], ", ") + " or " + replaceKeys[last] + " replaces it, which waits again"
}
