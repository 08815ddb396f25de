package testserver

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// KubeVersion is the kube-apiserver release scripts/kube-apiserver builds.
const KubeVersion = "v1.32.13"

// KubeServer is a real kube-apiserver on 127.0.0.1 over its own etcd, with
// no controllers: nothing creates Pods or writes status but the test. It
// authenticates one admin (system:masters) by bearer token.
type KubeServer struct {
	etcd, api *Proc
	// URL is the API server's https:// address.
	URL string
	// Token is the admin's bearer token.
	Token string
	// CAFile is the PEM file of the authority that signed the serving
	// certificate.
	CAFile string
	// Kubeconfig is a kubeconfig file for the admin, context "ebb-test".
	Kubeconfig string
}

// KubeBinary returns the kube-apiserver scripts/kube-apiserver caches, or an
// error wrapping ErrMissing.
func KubeBinary() (string, error) {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("%w: kube-apiserver: no home directory: %v", ErrMissing, err)
		}
		cache = filepath.Join(home, ".cache")
	}
	path := filepath.Join(cache, "ebb", "kube-apiserver-"+KubeVersion)
	st, err := os.Stat(path)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%w: %s (run scripts/kube-apiserver; scripts/test does)", ErrMissing, path)
	}
	return path, nil
}

// Kube starts etcd (Debian's etcd-server) and kube-apiserver, with
// certificates made by openssl for this run, RBAC, and token
// authentication. It is ready when /readyz answers the admin.
func Kube() (*KubeServer, error) {
	apiBin, err := KubeBinary()
	if err != nil {
		return nil, err
	}
	etcdBin, err := Binary("/usr/bin/etcd", "etcd-server")
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		return nil, fmt.Errorf("%w: openssl (Debian package openssl)", ErrMissing)
	}
	etcd, etcdURL, err := startEtcd(etcdBin)
	if err != nil {
		return nil, err
	}
	s, err := startAPIServer(apiBin, etcdURL)
	if err != nil {
		etcd.Stop()
		return nil, err
	}
	s.etcd = etcd
	return s, nil
}

func startEtcd(bin string) (*Proc, string, error) {
	client, err := FreePort()
	if err != nil {
		return nil, "", err
	}
	peer, err := FreePort()
	if err != nil {
		return nil, "", err
	}
	dir, err := Dir("etcd")
	if err != nil {
		return nil, "", err
	}
	clientURL := "http://127.0.0.1:" + strconv.Itoa(client)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
	p, err := Start("etcd", dir, exec.Command(bin,
		"--name", "ebb",
		"--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "ebb="+peerURL,
		"--unsafe-no-fsync"))
	if err != nil {
		return nil, "", err
	}
	err = p.Ready(20*time.Second, func(ctx context.Context) error {
		return get(ctx, http.DefaultClient, clientURL+"/health", "")
	})
	if err != nil {
		p.Stop()
		return nil, "", err
	}
	return p, clientURL, nil
}

func startAPIServer(bin, etcdURL string) (*KubeServer, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	dir, err := Dir("kube-apiserver")
	if err != nil {
		return nil, err
	}
	if err := makeCerts(dir); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("make a token: %w", err)
	}
	s := &KubeServer{
		URL:        "https://127.0.0.1:" + strconv.Itoa(port),
		Token:      hex.EncodeToString(tok),
		CAFile:     filepath.Join(dir, "ca.crt"),
		Kubeconfig: filepath.Join(dir, "kubeconfig"),
	}
	tokens := s.Token + ",admin,admin-uid,system:masters\n"
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("write tokens.csv: %w", err)
	}
	if err := os.WriteFile(s.Kubeconfig, []byte(s.kubeconfig()), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	f := func(name string) string { return filepath.Join(dir, name) }
	p, err := Start("kube-apiserver", dir, exec.Command(bin,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--tls-cert-file="+f("server.crt"), "--tls-private-key-file="+f("server.key"),
		"--client-ca-file="+f("ca.crt"),
		"--service-account-key-file="+f("sa.key"), "--service-account-signing-key-file="+f("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--token-auth-file="+f("tokens.csv"),
		"--authorization-mode=RBAC",
		"--etcd-servers="+etcdURL,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--endpoint-reconciler-type=none",
		"--cert-dir="+f("certs")))
	if err != nil {
		return nil, err
	}
	s.api = p
	client, err := s.client()
	if err != nil {
		p.Stop()
		return nil, err
	}
	err = p.Ready(60*time.Second, func(ctx context.Context) error {
		return get(ctx, client, s.URL+"/readyz", s.Token)
	})
	if err != nil {
		p.Stop()
		return nil, err
	}
	return s, nil
}

// client is an HTTP client that trusts the server's CA.
func (s *KubeServer) client() (*http.Client, error) {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read the CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the CA file %s holds no certificate", s.CAFile)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}, nil
}

func (s *KubeServer) kubeconfig() string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: ebb-test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: ebb-test
  context:
    cluster: ebb-test
    user: admin
    namespace: default
current-context: ebb-test
`, s.URL, s.CAFile, s.Token)
}

// Stop stops kube-apiserver, then etcd, by PID, and removes their
// directories.
func (s *KubeServer) Stop() {
	if s.api != nil {
		s.api.Stop()
	}
	if s.etcd != nil {
		s.etcd.Stop()
	}
}

// makeCerts writes, with openssl, a CA (ca.crt, ca.key), a serving
// certificate for 127.0.0.1 and localhost signed by it (server.crt,
// server.key) and the service-account signing key (sa.key) into dir.
func makeCerts(dir string) error {
	ext := filepath.Join(dir, "san.ext")
	if err := os.WriteFile(ext, []byte("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"), 0o600); err != nil {
		return fmt.Errorf("write the certificate extensions: %w", err)
	}
	steps := [][]string{
		{"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
			"-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=ebb-test-ca"},
		{"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
			"-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kube-apiserver"},
		{"x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
			"-out", "server.crt", "-days", "2", "-extfile", "san.ext"},
		{"genrsa", "-out", "sa.key", "2048"},
	}
	for _, args := range steps {
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("openssl %s: %w\n%s", args[0], err, out)
		}
	}
	return nil
}

// get succeeds when url answers 200, with the bearer token when one is
// given.
func get(ctx context.Context, c *http.Client, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

var _ Stoppable = (*KubeServer)(nil)
