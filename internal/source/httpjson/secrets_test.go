package httpjson

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

func TestSecretsSentNeverShown(t *testing.T) {
	const key, token, password = "k-3f9a1c", "t-77e0b2", "p-a51d09"
	t.Setenv("EBB_TEST_API_KEY", key)
	tokenFile := writeFile(t, "token", token+"\n")
	var mu sync.Mutex
	var seen http.Header
	fail := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = r.Header.Clone()
		if fail {
			http.Error(w, "no: "+r.Header.Get("X-Api-Key"), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"n": 5}`))
	}))
	defer srv.Close()

	bearer := defaults()
	bearer.Tries = 1
	bearer.Headers = map[string]config.Secret{"X-Api-Key": {Env: "EBB_TEST_API_KEY"}, "X-Trino-User": {Value: "ebb"}}
	bearer.BearerToken = &config.Secret{File: tokenFile}
	basic := defaults()
	basic.Tries = 1
	basic.BasicAuth = &config.BasicAuth{Username: "ebb", Password: config.Secret{Env: "EBB_TEST_PASSWORD"}}
	q := &Query{URL: srv.URL + "/n", Path: "n"}

	src := openSource(t, bearer)
	if v := read(t, src, source.Request{Group: "g", Query: q})[0]; v.Err != nil || v.V != 5 {
		t.Fatalf("= %v, %v", v.V, v.Err)
	}
	mu.Lock()
	if seen.Get("X-Api-Key") != key || seen.Get("Authorization") != "Bearer "+token || seen.Get("X-Trino-User") != "ebb" {
		t.Errorf("headers sent: %v", seen)
	}
	fail = true
	mu.Unlock()
	v := read(t, src, source.Request{Group: "g", Query: q})[0]
	var shown []string
	if v.Err == nil {
		t.Fatal("want the 503")
	}
	shown = append(shown, v.Err.Error(), src.Health().LastError)

	// An unset variable says which, not what.
	src = openSource(t, basic)
	v = read(t, src, source.Request{Group: "g", Query: q})[0]
	if v.Err == nil || !strings.Contains(v.Err.Error(), "basic_auth.password: environment variable EBB_TEST_PASSWORD is not set") {
		t.Fatalf("err = %v", v.Err)
	}
	t.Setenv("EBB_TEST_PASSWORD", password)
	mu.Lock()
	fail = false
	mu.Unlock()
	if v := read(t, src, source.Request{Group: "g", Query: q})[0]; v.Err != nil {
		t.Fatal(v.Err)
	}
	mu.Lock()
	if u, p, ok := (&http.Request{Header: seen}).BasicAuth(); !ok || u != "ebb" || p != password {
		t.Errorf("basic auth sent: %q %q %v", u, p, ok)
	}
	mu.Unlock()

	// A password in the URL is redacted from messages.
	v = read(t, src, source.Request{Group: "g", Query: &Query{URL: "http://ebb:" + password + "@" + closedPort(t) + "/n", Path: "n"}})[0]
	if v.Err == nil {
		t.Fatal("want connection refused")
	}
	shown = append(shown, v.Err.Error(), src.Health().LastError)
	for _, s := range shown {
		for _, secret := range []string{key, token, password} {
			if strings.Contains(s, secret) {
				t.Errorf("message shows a secret: %s", s)
			}
		}
	}
}

func TestTLSWithCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"workers": [{"busy": true}, {"busy": false}]}`))
	}))
	defer srv.Close()
	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	q := &Query{URL: srv.URL + "/w", Path: "workers.0.busy"}

	trusted := defaults()
	trusted.TLS = &config.TLS{CAFile: ca}
	if v := read(t, openSource(t, trusted), source.Request{Group: "g", Query: q})[0]; v.Err != nil || v.V != 1 {
		t.Fatalf("with ca_file: %v, %v", v.V, v.Err)
	}

	// Without the authority the certificate is refused, once: a refused
	// certificate is not transient.
	plain := defaults()
	src := openSource(t, plain)
	v := read(t, src, source.Request{Group: "g", Query: q})[0]
	if v.Err == nil || !strings.Contains(v.Err.Error(), "certificate") {
		t.Fatalf("without ca_file: err = %v, want a certificate error", v.Err)
	}
	if h := src.Health(); h.Calls != 1 {
		t.Errorf("%d attempts, want 1", h.Calls)
	}

	bad := defaults()
	bad.TLS = &config.TLS{CAFile: writeFile(t, "empty.pem", "nothing")}
	if _, err := Kind().Open(&bad, sourceDeps()); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("open with a bad ca_file: %v", err)
	}
}
