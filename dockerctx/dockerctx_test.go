package dockerctx

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"
	cliflags "github.com/docker/cli/cli/flags"
	"github.com/docker/docker/client"
)

// configWith writes a docker config directory as the CLI leaves it after
// 'docker context create' and 'docker context use current': contexts
// remote (TLS, with a CA) and other.
func configWith(t *testing.T, current string) string {
	t.Helper()
	dir := t.TempDir()
	s := store.New(filepath.Join(dir, "contexts"), storeConfig())
	ca, addr := tlsEngine(t)
	for name, host := range map[string]string{"remote": "tcp://" + addr, "other": "unix:///run/other.sock"} {
		err := s.CreateOrUpdate(store.Metadata{Name: name, Metadata: map[string]any{},
			Endpoints: map[string]any{docker.DockerEndpoint: docker.EndpointMeta{Host: host}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := s.ResetEndpointTLSMaterial("remote", docker.DockerEndpoint, &store.EndpointTLSData{Files: map[string][]byte{"ca.pem": ca}})
	if err != nil {
		t.Fatal(err)
	}
	if current != "" {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"currentContext": "`+current+`"}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tlsEngine is an engine's API answering /_ping over TLS with a
// certificate of its own CA, whose PEM it returns with its address.
func tlsEngine(t *testing.T) (ca []byte, addr string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "engine"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("API-Version", "1.41")
		fmt.Fprint(w, "OK")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), strings.TrimPrefix(srv.URL, "https://")
}

// The docker CLI's order: --context, -H, DOCKER_HOST, DOCKER_CONTEXT,
// currentContext, the default.
func TestResolve(t *testing.T) {
	cases := []struct {
		name    string
		current string // config.json's currentContext
		env     map[string]string
		flags   cliflags.ClientOptions
		context string
		host    string // the client's host; "" : client.FromEnv decides
		tls     bool
		err     string
	}{
		{name: "nothing: the environment decides", context: "default"},
		{name: "docker context use", current: "remote", context: "remote", host: "remote", tls: true},
		{name: "DOCKER_CONTEXT over currentContext", current: "remote", env: map[string]string{"DOCKER_CONTEXT": "other"},
			context: "other", host: "unix:///run/other.sock"},
		{name: "DOCKER_HOST over DOCKER_CONTEXT", current: "remote", env: map[string]string{"DOCKER_HOST": "tcp://10.9.9.9:2375", "DOCKER_CONTEXT": "other"},
			context: "default"},
		{name: "--context over DOCKER_HOST", env: map[string]string{"DOCKER_HOST": "tcp://10.9.9.9:2375"},
			flags: cliflags.ClientOptions{Context: "other"}, context: "other", host: "unix:///run/other.sock"},
		{name: "-H over DOCKER_CONTEXT", env: map[string]string{"DOCKER_CONTEXT": "other"},
			flags: cliflags.ClientOptions{Hosts: []string{"tcp://10.1.1.1:2375"}}, context: "default", host: "tcp://10.1.1.1:2375"},
		{name: "--context and -H", flags: cliflags.ClientOptions{Context: "other", Hosts: []string{"tcp://10.1.1.1:2375"}},
			err: "either specify --host or --context, not both"},
		{name: "unknown context", env: map[string]string{"DOCKER_CONTEXT": "nope"}, err: `docker context "nope" does not exist`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := configWith(t, tc.current)
			if tc.host == "remote" {
				meta, err := store.New(filepath.Join(dir, "contexts"), storeConfig()).GetMetadata("remote")
				if err != nil {
					t.Fatal(err)
				}
				tc.host = meta.Endpoints[docker.DockerEndpoint].(docker.EndpointMeta).Host
			}
			env := map[string]string{"DOCKER_CONFIG": dir}
			for k, v := range tc.env {
				env[k] = v
			}
			ep, err := Resolve(&tc.flags, func(k string) string { return env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ep.Context != tc.context || ep.Host != tc.host {
				t.Errorf("context %q host %q, want %q %q", ep.Context, ep.Host, tc.context, tc.host)
			}
			if tc.host == "" {
				if len(ep.Opts) > 0 {
					t.Errorf("%d client options, want none: client.FromEnv decides", len(ep.Opts))
				}
				return
			}
			c, err := client.NewClientWithOpts(ep.Opts...)
			if err != nil {
				t.Fatal(err)
			}
			if c.DaemonHost() != tc.host {
				t.Errorf("the client talks to %s, want %s", c.DaemonHost(), tc.host)
			}
			if tc.tls {
				// The engine's certificate is signed by the context's CA
				// alone: the ping passes only if the client trusts it.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if _, err := c.Ping(ctx); err != nil {
					t.Errorf("ping over the context's TLS: %v", err)
				}
			}
		})
	}
}
