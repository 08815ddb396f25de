package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/client/registry"
	"github.com/ebb-autoscaler/ebb/internal/daemon"
)

// registryRunConfig is an ebb whose registry expects a renewal a second,
// evicts every second, and whose one group only decides (no instances):
// the registry's instances are started by the test.
func registryRunConfig(dir string, port int) string {
	return fmt.Sprintf(`store: {path: %q}
api: {listen: "127.0.0.1:%d"}
registry: {renewal_interval: 1s, eviction_interval: 1s}
groups:
  - name: plain
    capacity: {max: 1}
    policies: [{fixed: {desired: 1}}]
`, filepath.Join(dir, "ebb.db"), port)
}

// webProc is one `ebb web` instance the test started.
type webProc struct {
	id  string
	cmd *exec.Cmd
}

// startWebs starts n web instances registered at registryURL as app WEB
// (w0, w1, …), renewing every second a lease of lease.
func startWebs(t *testing.T, dir, registryURL string, n int, lease time.Duration) []*webProc {
	t.Helper()
	ws := make([]*webProc, n)
	for i := range ws {
		w := &webProc{id: fmt.Sprintf("w%d", i)}
		log, err := os.Create(filepath.Join(dir, w.id+".log"))
		if err != nil {
			t.Fatal(err)
		}
		w.cmd = exec.Command(os.Args[0], "web", "--registry", registryURL, "--app", "web", "--id", w.id,
			"--renew", "1s", "--lease", lease.String(), "--service", "1ms")
		w.cmd.Env = append(os.Environ(), asEbb+"=1")
		w.cmd.Stdout, w.cmd.Stderr = log, log
		if err := w.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			w.cmd.Process.Signal(syscall.SIGCONT)
			w.cmd.Process.Kill()
			w.cmd.Wait()
			log.Close()
		})
		ws[i] = w
	}
	return ws
}

func registryOf(t *testing.T, r *replicaProc) daemon.RegistryView {
	t.Helper()
	var v daemon.RegistryView
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := r.c.Registry(ctx, &v); err != nil {
		return daemon.RegistryView{}
	}
	return v
}

// webInstances counts the registry's WEB instances, and the expired ones.
func webInstances(v daemon.RegistryView) (ids map[string]bool, expired int) {
	ids = map[string]bool{}
	for _, a := range v.Apps {
		if a.Name != "WEB" {
			continue
		}
		for _, in := range a.Instances {
			ids[in.ID] = true
			if in.Expired {
				expired++
			}
		}
	}
	return ids, expired
}

// startRegistry starts an ebb and n web instances registered with it,
// and waits until all are registered and self-preservation is off: the
// registry has counted a minute of renewals (about 52 s at 85%).
func startRegistry(t *testing.T, n int, lease time.Duration) (*replicaProc, []*webProc) {
	t.Helper()
	dir := t.TempDir()
	port := freeTCPPort(t)
	ebb := startRun(t, dir, "ebb", port, registryRunConfig(dir, port))
	eventually(t, 20*time.Second, "ebb to serve", func() bool { return ebbUp(ebb) })
	webs := startWebs(t, dir, ebb.url+"/eureka", n, lease)
	eventually(t, 20*time.Second, fmt.Sprintf("%d instances registered", n), func() bool {
		ids, _ := webInstances(registryOf(t, ebb))
		return len(ids) == n
	})
	eventually(t, 90*time.Second, "a minute of renewals, self-preservation off", func() bool {
		sp := registryOf(t, ebb).SelfPreservation
		return sp.Enabled && !sp.Active && sp.ExpectedPerMin == 60*n
	})
	return ebb, webs
}

func ebbUp(r *replicaProc) bool {
	resp, err := http.Get(r.url + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// An instance that stops renewing (a paused process) is evicted once its
// lease expires, and only it; resumed, it registers again.
func TestRegistryEvictsASilentInstance(t *testing.T) {
	t.Parallel()
	const lease = 12 * time.Second
	ebb, webs := startRegistry(t, 10, lease)
	silent := webs[0]
	silent.cmd.Process.Signal(syscall.SIGSTOP)
	stopped := time.Now()
	eventually(t, lease+15*time.Second, "the silent instance to be evicted", func() bool {
		ids, _ := webInstances(registryOf(t, ebb))
		return !ids[silent.id]
	})
	// Its last renewal came up to a renewal interval (1s) before it stopped.
	if took := time.Since(stopped); took < lease-time.Second {
		t.Errorf("evicted %v after it stopped renewing; its lease is %v", took, lease)
	}
	if ids, _ := webInstances(registryOf(t, ebb)); len(ids) != 9 {
		t.Errorf("after the eviction %d instances, want the other 9: %v", len(ids), ids)
	}
	if !strings.Contains(ebb.log(), "registry evicted an instance whose lease expired") {
		t.Error("the eviction is not logged")
	}
	silent.cmd.Process.Signal(syscall.SIGCONT)
	eventually(t, 15*time.Second, "the resumed instance to register again", func() bool {
		ids, expired := webInstances(registryOf(t, ebb))
		return ids[silent.id] && expired == 0
	})
}

// When 90% of the instances stop renewing at once, as a partition between
// them and the registry would make it, self-preservation holds their
// expired leases; once they renew again, nothing was lost.
func TestRegistrySelfPreservationHoldsAPartition(t *testing.T) {
	t.Parallel()
	const lease = 12 * time.Second
	ebb, webs := startRegistry(t, 10, lease)
	for _, w := range webs[1:] {
		w.cmd.Process.Signal(syscall.SIGSTOP)
	}
	eventually(t, lease+15*time.Second, "9 expired leases under self-preservation", func() bool {
		v := registryOf(t, ebb)
		_, expired := webInstances(v)
		return expired == 9 && v.SelfPreservation.Active
	})
	// Held through several eviction passes (one a second).
	hold := time.NewTicker(250 * time.Millisecond)
	defer hold.Stop()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); <-hold.C {
		if ids, _ := webInstances(registryOf(t, ebb)); len(ids) != 10 {
			t.Fatalf("under self-preservation only %d of 10 instances are left", len(ids))
		}
	}
	if !strings.Contains(ebb.log(), "registry self-preservation") {
		t.Error("self-preservation is not logged")
	}
	var out, errb strings.Builder
	if code := mainContext(t.Context(), []string{"registry", "--api", ebb.url}, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "self-preservation ACTIVE") || strings.Count(out.String(), "EXPIRED") != 9 {
		t.Errorf("ebb registry: exit %d\n%s%s\nwant self-preservation ACTIVE and 9 expired leases", code, out.String(), errb.String())
	}
	for _, w := range webs[1:] {
		w.cmd.Process.Signal(syscall.SIGCONT)
	}
	eventually(t, 15*time.Second, "all 10 renewing again", func() bool {
		ids, expired := webInstances(registryOf(t, ebb))
		return len(ids) == 10 && expired == 0
	})
}

// A client keeps balancing over the instances from its cached registry
// while the registry is down (ebb killed), and catches up once ebb is
// back: the restarted registry holds the instances it saved, whose
// renewals go on without registering again.
func TestRegistryClientBalancesWhileTheRegistryIsDown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port := freeTCPPort(t)
	cfg := registryRunConfig(dir, port)
	ebb := startRun(t, dir, "ebb", port, cfg)
	eventually(t, 20*time.Second, "ebb to serve", func() bool { return ebbUp(ebb) })
	webs := startWebs(t, dir, ebb.url+"/eureka", 3, 30*time.Second)
	c, err := registry.New(registry.Options{Servers: []string{ebb.url + "/eureka"}, FetchInterval: time.Second, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go c.Run(ctx)
	eventually(t, 20*time.Second, "the client to see 3 UP instances", func() bool { return len(c.Instances("web")) == 3 })

	ebb.cmd.Process.Kill()
	<-ebb.done
	served := map[string]int{}
	for i := 0; i < 60; i++ {
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := c.Do(rctx, "web", registry.Request{Path: "/work"})
		if err != nil {
			rcancel()
			t.Fatalf("request %d with the registry down: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		rcancel()
		served[strings.TrimSpace(string(b))]++
	}
	for _, w := range webs {
		if served[w.id] != 20 {
			t.Errorf("with the registry down, %s served %d of 60 requests; want 20 each: %v", w.id, served[w.id], served)
		}
	}
	eventually(t, 10*time.Second, "the client to report the registry unreachable", func() bool { return c.Err() != nil })

	again := startRun(t, dir, "ebb", port, cfg)
	eventually(t, 20*time.Second, "the client to refresh from the restarted registry", func() bool {
		return ebbUp(again) && c.Err() == nil && len(c.Instances("web")) == 3
	})
	for _, w := range webs {
		b, _ := os.ReadFile(filepath.Join(dir, w.id+".log"))
		if n := strings.Count(string(b), "registry does not know the instance"); n > 0 {
			t.Errorf("%s registered again %d times after the restart; the registry should have kept it:\n%s", w.id, n, b)
		}
	}
}
