package prometheus

import (
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
)

// Tests in this file talk to loopback servers that misbehave as a real
// Prometheus (or a proxy in front of it) can, or that record what ebb
// sent.

const oneSample = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"g1"},"value":[1700000000.5,"7"]}]}}`

// fake answers queries with the given handler and counts them.
type fake struct {
	*httptest.Server
	hits atomic.Int64
}

func newFake(t testing.TB, h http.HandlerFunc) *fake {
	t.Helper()
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// fastConn is a connection config with a short timeout, so faults are
// found fast.
func fastConn(url string) *Conn {
	c := testConn(url)
	c.Timeout = config.Duration(200 * time.Millisecond)
	return c
}

var labelled = Query{Query: "sum by (job) (jobs_waiting)", Label: "job", Value: defaultValue}

func TestFaults(t *testing.T) {
	// A listener that accepts connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	held.Go(func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	})
	defer held.Wait()
	defer silent.Close()

	// A port nothing listens on.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String()
	closed.Close()

	tests := []struct {
		name    string
		handler http.HandlerFunc // nil: url is used
		url     string
		err     []string
		tries   int64 // attempts the fake counts, when it is one
	}{
		{name: "unavailable", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"status":"error","errorType":"unavailable","error":"too many queries in flight"}`))
		}, err: []string{"503 Service Unavailable", "unavailable: too many queries in flight"}, tries: 3},
		{name: "throttled", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "slow down", http.StatusTooManyRequests)
		}, err: []string{"429 Too Many Requests"}, tries: 3},
		{name: "internal error, no JSON", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>oops</html>", http.StatusBadGateway)
		}, err: []string{"502 Bad Gateway"}, tries: 3},
		{name: "query timeout", handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`))
		}, err: []string{"timeout: query timed out"}, tries: 3},
		{name: "hangs", handler: func(w http.ResponseWriter, r *http.Request) {
			// With the body read, the server notices the client hanging up.
			r.ParseForm()
			<-r.Context().Done()
		}, err: []string{"context deadline exceeded"}, tries: 3},
		{name: "not found", handler: func(w http.ResponseWriter, r *http.Request) {
			http.NotFound(w, r)
		}, err: []string{"client_error", "404"}, tries: 1},
		{name: "execution error", handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnprocessableEntity)
			w.Write([]byte(`{"status":"error","errorType":"execution","error":"found duplicate series for the match group"}`))
		}, err: []string{"execution: found duplicate series"}, tries: 1},
		{name: "not JSON", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`<html>a login page</html>`))
		}, err: []string{"prometheus query"}, tries: 1},
		{name: "accepts, never answers", url: "http://" + silent.Addr().String(), err: []string{"context deadline exceeded"}},
		{name: "closed port", url: closedURL, err: []string{"connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := tt.url
			var f *fake
			if tt.handler != nil {
				f = newFake(t, tt.handler)
				url = f.URL
			}
			src := openSource(t, fastConn(url))
			vals := src.Read(context.Background(), reads(labelled, "g1", "g2"))
			for _, v := range vals {
				errContains(t, v.Err, tt.err...)
			}
			h := src.Health()
			want := int64(3)
			if tt.tries != 0 {
				want = tt.tries
			}
			if f != nil && f.hits.Load() != want {
				t.Errorf("server saw %d attempts, want %d", f.hits.Load(), want)
			}
			if h.Calls != uint64(want) || h.Failures != uint64(want) || !h.Failing {
				t.Errorf("health = %+v, want %d failed attempts", h, want)
			}
			errContains(t, errString(h.LastError), tt.err...)
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// TestRecovers: a 503 then an answer is a value, after two attempts.
func TestRecovers(t *testing.T) {
	var n atomic.Int64
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(oneSample))
	})
	src := openSource(t, fastConn(f.URL))
	v := src.Read(context.Background(), reads(labelled, "g1"))[0]
	if err := want(v, 7); err != nil {
		t.Fatal(err)
	}
	if v.At.UnixMilli() != 1700000000500 {
		t.Errorf("At = %v, want the sample's time", v.At)
	}
	h := src.Health()
	if h.Calls != 2 || h.Failures != 1 || h.Failing || !strings.Contains(h.LastError, "503") {
		t.Errorf("health = %+v, want a failure then a success", h)
	}
}

// TestCredentials: basic auth, a bearer token and extra headers reach the
// server, revealed from env and files at each call; a secret that cannot
// be revealed fails the read without trying again, and no error carries
// a secret's value.
func TestCredentials(t *testing.T) {
	type seen struct {
		user, pass string
		auth       string
		tenant     string
	}
	var mu sync.Mutex
	var got []seen
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		s := seen{auth: r.Header.Get("Authorization"), tenant: r.Header.Get("X-Scope-OrgID")}
		s.user, s.pass, _ = r.BasicAuth()
		mu.Lock()
		got = append(got, s)
		mu.Unlock()
		if s.auth == "Bearer wrong-token" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(oneSample))
	})
	last := func() seen {
		mu.Lock()
		defer mu.Unlock()
		return got[len(got)-1]
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	write := func(s string) {
		if err := os.WriteFile(tokenFile, []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("EBB_TEST_PROM_PASSWORD", "s3cret-pw")
	tenant := map[string]config.Secret{"X-Scope-OrgID": {Value: "tenant-1"}}

	t.Run("basic auth", func(t *testing.T) {
		c := testConn(f.URL)
		c.BasicAuth = &config.BasicAuth{Username: "ebb", Password: config.Secret{Env: "EBB_TEST_PROM_PASSWORD"}}
		c.Headers = tenant
		src := openSource(t, c)
		if err := want(src.Read(context.Background(), reads(labelled, "g1"))[0], 7); err != nil {
			t.Fatal(err)
		}
		if s := last(); s.user != "ebb" || s.pass != "s3cret-pw" || s.tenant != "tenant-1" {
			t.Errorf("server saw %+v", s)
		}
	})
	t.Run("bearer token from a rotated file", func(t *testing.T) {
		write("token-1")
		c := testConn(f.URL)
		c.BearerToken = &config.Secret{File: tokenFile}
		src := openSource(t, c)
		for _, tok := range []string{"token-1", "token-2"} {
			write(tok)
			if err := want(src.Read(context.Background(), reads(labelled, "g1"))[0], 7); err != nil {
				t.Fatal(err)
			}
			if s := last(); s.auth != "Bearer "+tok {
				t.Errorf("Authorization = %q, want Bearer %s", s.auth, tok)
			}
		}
		write("wrong-token")
		v := src.Read(context.Background(), reads(labelled, "g1"))[0]
		errContains(t, v.Err, "401")
		if strings.Contains(v.Err.Error(), "wrong-token") {
			t.Errorf("error %q shows the token", v.Err)
		}
	})
	t.Run("secret missing", func(t *testing.T) {
		before := f.hits.Load()
		c := testConn(f.URL)
		c.BasicAuth = &config.BasicAuth{Username: "ebb", Password: config.Secret{Env: "EBB_TEST_PROM_UNSET"}}
		src := openSource(t, c)
		v := src.Read(context.Background(), reads(labelled, "g1"))[0]
		errContains(t, v.Err, "basic_auth.password", "EBB_TEST_PROM_UNSET is not set")
		if h := src.Health(); h.Calls != 1 || f.hits.Load() != before {
			t.Errorf("health = %+v, server hits %d → %d: want one attempt, nothing sent", h, before, f.hits.Load())
		}
	})
}

// TestTLS: an https server with a self-signed certificate is trusted with
// ca_file, and refused without it, at once (the certificate will not
// change between attempts).
func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(oneSample))
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	c := testConn(srv.URL)
	c.TLS = &config.TLS{CAFile: ca}
	src := openSource(t, c)
	if err := want(src.Read(context.Background(), reads(labelled, "g1"))[0], 7); err != nil {
		t.Fatal(err)
	}

	src = openSource(t, testConn(srv.URL))
	v := src.Read(context.Background(), reads(labelled, "g1"))[0]
	errContains(t, v.Err, "certificate")
	if h := src.Health(); h.Calls != 1 {
		t.Errorf("%d attempts, want 1", h.Calls)
	}
}

// TestCallsBounded: concurrency bounds the queries in flight over many
// distinct per-group queries.
func TestCallsBounded(t *testing.T) {
	var inFlight, most atomic.Int64
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		w.Write([]byte(oneSample))
	})
	c := testConn(f.URL)
	c.Concurrency = 2
	src := openSource(t, c)
	groups := make([]string, 50)
	for i := range groups {
		groups[i] = "g" + strings.Repeat("x", i)
	}
	vals := src.Read(context.Background(), reads(Query{Query: `sum(x{job="{{.Group}}"})`, Value: defaultValue}, groups...))
	for _, v := range vals {
		if err := want(v, 7); err != nil {
			t.Fatal(err)
		}
	}
	if f.hits.Load() != 50 || most.Load() > 2 {
		t.Errorf("%d queries, %d at once; want 50, at most 2", f.hits.Load(), most.Load())
	}
}
