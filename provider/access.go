package provider

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"golang.org/x/crypto/ssh"
)

// Defaults of the inputs every resource has.
const (
	// DefaultBastionUser is the Scaleway bastion's login.
	DefaultBastionUser = "bastion"
	// DefaultTargetPort is GitLab's plain HTTP port.
	DefaultTargetPort = 80
	// DefaultScheme is plain HTTP.
	DefaultScheme = "http"
	// DefaultPollInterval caps the pause between attempts.
	DefaultPollInterval = "15s"
)

// access points at the inputs that say how to reach GitLab through the bastion
// and how long to wait: every resource has them, under the same names, with
// the same descriptions, defaults and checks, all of which live here. Each
// resource's Args keeps them as its own fields (an embedded struct would break
// the GitLabReadyArgs{BastionHost: ...} literals of tests/bastion) and hands
// them over with an access() method; only the default timeout differs.
type access struct {
	BastionHost        *string
	BastionPort        *int
	BastionUser        *string
	PrivateKey         *string
	HostKeyFingerprint *string
	TargetHost         *string
	TargetPort         *int
	Scheme             *string
	CaCert             *string
	Timeout            *string
	PollInterval       *string
	// DefaultTimeout is the resource's default for Timeout.
	DefaultTimeout string
}

// annotate documents the inputs and sets their defaults.
func (a access) annotate(an infer.Annotator) {
	an.Describe(a.BastionHost, "The Public Gateway's public address.")
	an.Describe(a.BastionPort, "The SSH bastion's port (Scaleway's default is 61000).")
	an.Describe(a.BastionUser, "The bastion's login.")
	an.SetDefault(a.BastionUser, DefaultBastionUser)
	an.Describe(a.PrivateKey, "The OpenSSH (or PKCS#8) PEM private key that the bastion trusts.")
	an.Describe(a.HostKeyFingerprint, "Pins the bastion's host key (SHA256:...); unset trusts the first key seen.")
	an.Describe(a.TargetHost, "GitLab's private address, as reached from the bastion.")
	an.Describe(a.TargetPort, "GitLab's HTTP(S) port.")
	an.SetDefault(a.TargetPort, DefaultTargetPort)
	an.Describe(a.Scheme, "http or https.")
	an.SetDefault(a.Scheme, DefaultScheme)
	an.Describe(a.CaCert, "PEM CA that signs GitLab's certificate, for https.")
	an.Describe(a.Timeout, "The longest wait, as a Go duration.")
	an.SetDefault(a.Timeout, a.DefaultTimeout)
	an.Describe(a.PollInterval, "The cap of the pause between attempts, as a Go duration.")
	an.SetDefault(a.PollInterval, DefaultPollInterval)
}

// fillDefaults sets the optional inputs that are empty to their defaults.
func (a access) fillDefaults() {
	setIfZero(a.BastionUser, DefaultBastionUser)
	setIfZero(a.TargetPort, DefaultTargetPort)
	setIfZero(a.Scheme, DefaultScheme)
	setIfZero(a.Timeout, a.DefaultTimeout)
	setIfZero(a.PollInterval, DefaultPollInterval)
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
func (a access) validate(f *fieldErrors) {
	if *a.BastionHost == "" {
		f.add("bastionHost", "is empty: set it to the Public Gateway's public address")
	}
	if *a.BastionPort < 1 || *a.BastionPort > 65535 {
		f.add("bastionPort", "%d is not a TCP port: set the bastion's port (Scaleway's default is 61000)", *a.BastionPort)
	}
	if _, err := ssh.ParsePrivateKey([]byte(*a.PrivateKey)); err != nil {
		// The key itself never goes into a message.
		f.add("privateKey", "is not an unencrypted PEM private key (%s): pass the OpenSSH PEM of the automation key", keyErrorKind(err))
	}
	if _, err := NormalizeFingerprint(*a.HostKeyFingerprint); err != nil {
		f.add("hostKeyFingerprint", "%v", err)
	}
	if *a.TargetHost == "" || strings.ContainsAny(*a.TargetHost, "/ ") {
		f.add("targetHost", "%q is not a host: set GitLab's private address", *a.TargetHost)
	}
	if *a.TargetPort < 1 || *a.TargetPort > 65535 {
		f.add("targetPort", "%d is not a TCP port", *a.TargetPort)
	}
	if *a.Scheme != "http" && *a.Scheme != "https" {
		f.add("scheme", "%q must be http or https", *a.Scheme)
	}
	if *a.CaCert != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(*a.CaCert)) {
		f.add("caCert", "holds no PEM certificate")
	}
	if d, err := time.ParseDuration(*a.Timeout); err != nil || d <= 0 {
		f.add("timeout", "%q is not a positive Go duration such as 30m", *a.Timeout)
	}
	if d, err := time.ParseDuration(*a.PollInterval); err != nil || d <= 0 {
		f.add("pollInterval", "%q is not a positive Go duration such as 15s", *a.PollInterval)
	}
}

// keyErrorKind says what is wrong with a private key without quoting it.
func keyErrorKind(err error) string {
	if _, ok := err.(*ssh.PassphraseMissingError); ok {
		return "it is encrypted"
	}
	return "it does not parse"
}

// inputMap flattens the inputs by key, for Diff.
func (a access) inputMap() map[string]string {
	return map[string]string{
		"bastionHost":        *a.BastionHost,
		"bastionPort":        strconv.Itoa(*a.BastionPort),
		"bastionUser":        *a.BastionUser,
		"privateKey":         *a.PrivateKey,
		"hostKeyFingerprint": *a.HostKeyFingerprint,
		"targetHost":         *a.TargetHost,
		"targetPort":         strconv.Itoa(*a.TargetPort),
		"scheme":             *a.Scheme,
		"caCert":             *a.CaCert,
		"timeout":            *a.Timeout,
		"pollInterval":       *a.PollInterval,
	}
}

// config is the wait the inputs describe, asking GitLab for pathQuery (a path
// and an optional "?query"). The inputs must have been validated.
func (a access) config(pathQuery string) (Config, error) {
	signer, err := ssh.ParsePrivateKey([]byte(*a.PrivateKey))
	if err != nil {
		return Config{}, fmt.Errorf("privateKey: %s", keyErrorKind(err))
	}
	pinned, _ := NormalizeFingerprint(*a.HostKeyFingerprint)
	timeout, _ := time.ParseDuration(*a.Timeout)
	poll, _ := time.ParseDuration(*a.PollInterval)
	var roots *x509.CertPool
	if *a.CaCert != "" {
		roots = x509.NewCertPool()
		roots.AppendCertsFromPEM([]byte(*a.CaCert))
	}
	u := url.URL{Scheme: *a.Scheme, Host: net.JoinHostPort(*a.TargetHost, strconv.Itoa(*a.TargetPort))}
	u.Path, u.RawQuery, _ = strings.Cut(pathQuery, "?")
	return Config{
		BastionAddr:        net.JoinHostPort(*a.BastionHost, strconv.Itoa(*a.BastionPort)),
		BastionUser:        *a.BastionUser,
		Signer:             signer,
		HostKeyFingerprint: pinned,
		URL:                u.String(),
		RootCAs:            roots,
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

// diffInputs compares inputs flattened by key: a change of one of replaceKeys
// replaces the resource (and so waits again), any other is an update that
// waits for nothing.
func diffInputs(olds, news map[string]string, replaceKeys []string) infer.DiffResponse {
	detailed := map[string]p.PropertyDiff{}
	for key, newValue := range news {
		if olds[key] == newValue {
			continue
		}
		kind := p.Update
		for _, rk := range replaceKeys {
			if key == rk {
				kind = p.UpdateReplace
			}
		}
		detailed[key] = p.PropertyDiff{Kind: kind, InputDiff: true}
	}
	return infer.DiffResponse{HasChanges: len(detailed) > 0, DetailedDiff: detailed}
}
