package bench_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/gitlab-kapsule/gitlab-kapsule/bench/sim"
	"github.com/gitlab-kapsule/gitlab-kapsule/cloudinit"
	"github.com/gitlab-kapsule/gitlab-kapsule/hostscripts"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/mockcloud"
	"github.com/gitlab-kapsule/gitlab-kapsule/internal/offline"
	"github.com/gitlab-kapsule/gitlab-kapsule/stack"
)

// BenchmarkProgramUnderMocks is one whole evaluation of the program, every
// registration answered by mockcloud: what `plan`, the unit tests and the
// first seconds of a real `up` spend in the program itself.
func BenchmarkProgramUnderMocks(b *testing.B) {
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		cloud, err := mockcloud.Run("dev", nil, nil, stack.Deploy)
		if err != nil {
			b.Fatal(err)
		}
		n = len(cloud.Resources())
	}
	if n == 0 {
		b.Fatal("the program registered nothing")
	}
	b.ReportMetric(float64(n), "resources")
}

// BenchmarkRenderGitLabRB renders Omnibus's gitlab.rb with TLS, the
// default: what GitLabConfigured sends the host on every change.
func BenchmarkRenderGitLabRB(b *testing.B) {
	g := cloudinit.GitLab{
		ExternalURL: "https://10.0.0.10", PrivateIP: "10.0.0.10", NetworkCIDR: "10.0.0.0/24",
		KASPort: cloudinit.DefaultKASPort, KASURL: "grpcs://10.0.0.10:8150", TLS: true,
	}
	b.ReportAllocs()
	size := 0
	for b.Loop() {
		out, err := cloudinit.GitLabRB(g)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "bytes")
}

// BenchmarkOfflinePlan is `gitlab-kapsule plan` minus process start: read
// Pulumi.dev.yaml, run the program under mocks, print the tree.
func BenchmarkOfflinePlan(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := offline.Plan(io.Discard, "..", "dev", stack.Deploy); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSimulate is the simulator over the recorded program: the
// scheduling, the requirement table and the report, not the recording.
func BenchmarkSimulate(b *testing.B) {
	rs, err := sim.Record("dev", nil, nil, stack.Deploy)
	if err != nil {
		b.Fatal(err)
	}
	m := sim.DefaultModel()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Simulate(rs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHostPayload renders what GitLabConfigured uploads with the
// scripts on every run: the settings and secrets, with TLS and backups, from
// certificate and key PEMs of realistic size.
func BenchmarkHostPayload(b *testing.B) {
	ca, cert, key := samplePEMs(b)
	rb, err := cloudinit.GitLabRB(cloudinit.GitLab{
		ExternalURL: "https://10.0.0.10", PrivateIP: "10.0.0.10", NetworkCIDR: "10.0.0.0/24",
		KASPort: cloudinit.DefaultKASPort, KASURL: "grpcs://10.0.0.10:8150", TLS: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	s := hostscripts.Settings{
		Package: "gitlab-ce", Version: "18.5.2-ce.0", DataVolumeID: "fr-par-1/11111111-2222-3333-4444-555555555555",
		GitLabRB: rb, RootPassword: strings.Repeat("p", 32), AdminToken: "glk-" + strings.Repeat("t", 40), AdminTokenExpiresAt: "2027-06-01",
		TLSCert: cert, TLSKey: key, CACert: ca,
		BackupBucket: "glk-dev-gitlab-backups-0123abcd", BackupRegion: "fr-par", BackupEndpoint: "https://s3.fr-par.scw.cloud",
		BackupAccessKey: "SCW" + strings.Repeat("A", 17), BackupSecretKey: strings.Repeat("s", 36), BackupSchedule: "daily",
	}
	b.ReportAllocs()
	size := 0
	for b.Loop() {
		size = len(hostscripts.Payload(s))
	}
	b.ReportMetric(float64(size), "bytes")
}

// samplePEMs makes a throwaway CA certificate, a certificate and an ECDSA
// key, so the payload carries what the program really puts there.
func samplePEMs(b *testing.B) (ca, cert, key string) {
	b.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "glk-dev private CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		b.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		b.Fatal(err)
	}
	c := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return c, c, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}
