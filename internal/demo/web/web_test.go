package web

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/registry"
)

// An instance registers UP under its app and ID, serves /work, and on Stop
// finishes, cancels its registration and returns.
func TestRegistersServesAndLeaves(t *testing.T) {
	reg, err := registry.New(registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.NewHandler(reg, clock.Real{}, "/eureka"))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(t.Context(), Config{Listener: ln, Registry: srv.URL + "/eureka", App: "web", ID: "w1", Service: time.Millisecond, Stop: stop})
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(10 * time.Second); ; <-tick.C {
		if in, err := reg.Instance("WEB", "w1"); err == nil && in.Status == registry.StatusUp {
			if in.Port.Number != ln.Addr().(*net.TCPAddr).Port || !in.Port.Enabled {
				t.Fatalf("registered port %+v, want %s", in.Port, ln.Addr())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not registered UP within 10s")
		}
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/work")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(b)) != "w1" {
		t.Errorf("/work answered %q, want its ID", b)
	}
	close(stop)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after Stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Stop")
	}
	if _, err := reg.Instance("WEB", "w1"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("still registered after a graceful stop: %v", err)
	}
}

func TestRefusesAMissingIdentity(t *testing.T) {
	err := Run(context.Background(), Config{Listen: "127.0.0.1:0", App: "web"})
	if err == nil || !strings.Contains(err.Error(), "EBB_REGISTRY_URL") {
		t.Errorf("Run without a registry URL or ID: %v", err)
	}
}
