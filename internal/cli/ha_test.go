package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ebb-autoscaler/ebb/client"
	"github.com/ebb-autoscaler/ebb/client/registry"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/store"
	"github.com/ebb-autoscaler/ebb/internal/testserver"
)

// haScript is an instance that drains for 4 s after SIGUSR1, long enough
// for a leader to die mid-drain and another to finish it.
const haScript = `trap 'sleep 4; echo drained; exit 0' USR1; trap 'echo term; exit 0' TERM; echo started; i=0; while [ $i -lt 1800 ]; do sleep 0.1; i=$((i+1)); done`

func haConfig(dir, dsn, id string, port int, election string) string {
	return fmt.Sprintf(`store:
  postgres: {dsn: {value: %[2]q}, lease: 3s, timeout: 3s, id: %[3]s%[6]s}
api: {listen: "127.0.0.1:%[4]d"}
groups:
  - name: ha
    capacity: {min: 0, max: 6}
    interval: 1s
    signals: {want: {stale: 1h}}
    policies: [{queue: {signal: want, per_instance: 1}}]
    behavior: {up: {limits: []}, down: {window: 0s, limits: []}}
    provider:
      local: {command: [/bin/sh, -c, %[5]q], log_dir: %[1]s/logs, grace: 10s}
    lifecycle:
      drain: {signal: SIGUSR1, heartbeat: 1s, timeout: 60s}
`, dir, dsn, id, port, haScript, election)
}

// replicaProc is one `ebb run` process of the test.
type replicaProc struct {
	id   string
	url  string
	cmd  *exec.Cmd
	c    *client.Client
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{} // closed when the process has exited, with err set
	err  error
}

func (r *replicaProc) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.Write(p)
}

func (r *replicaProc) log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.String()
}

func startReplica(t *testing.T, dir, dsn, id string, election ...string) *replicaProc {
	t.Helper()
	port := freeTCPPort(t)
	return startRun(t, dir, id, port, haConfig(dir, dsn, id, port, strings.Join(election, "")))
}

// startRun starts `ebb run` (this test binary as ebb) on the config cfg,
// written to dir/id.yaml, with its API on port; the test's end kills it.
func startRun(t *testing.T, dir, id string, port int, cfg string) *replicaProc {
	t.Helper()
	path := filepath.Join(dir, id+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &replicaProc{id: id, url: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan struct{})}
	r.c = client.New(r.url, "tok")
	r.cmd = exec.Command(os.Args[0], "run", "-c", path, "--log-level", "info")
	// TMPDIR: the replica's local copy of the state, left behind by a
	// SIGKILL, goes where the test cleans up.
	r.cmd.Env = append(os.Environ(), asEbb+"=1", "EBB_TOKEN=tok", "TMPDIR="+dir)
	r.cmd.Stderr = r
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.err = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		r.cmd.Process.Signal(syscall.SIGCONT)
		r.cmd.Process.Kill()
		<-r.done
		if t.Failed() {
			t.Logf("log of %s:\n%s", id, r.log())
		}
	})
	return r
}

// leaderOf asks r who leads.
func leaderOf(r *replicaProc) (store.Leader, error) {
	var l store.Leader
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := r.c.Leader(ctx, &l)
	return l, err
}

// waitLeader waits until one of rs says it leads and every other one of
// rs names it, and returns it.
func waitLeader(t *testing.T, within time.Duration, rs ...*replicaProc) *replicaProc {
	t.Helper()
	var lead *replicaProc
	eventually(t, within, "one replica to lead and the others to know it", func() bool {
		lead = nil
		ids := map[string]bool{}
		for _, r := range rs {
			l, err := leaderOf(r)
			if err != nil || l.Expired {
				return false
			}
			ids[l.ID] = true
			if l.Self {
				lead = r
			}
		}
		return lead != nil && len(ids) == 1 && ids[lead.id]
	})
	return lead
}

// instancesVia lists the group's instances as r serves them.
func instancesVia(r *replicaProc) ([]model.Instance, error) {
	var insts []model.Instance
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := r.c.Instances(ctx, "ha", false, &insts)
	return insts, err
}

func settledAt(r *replicaProc, n int) bool {
	insts, err := instancesVia(r)
	if err != nil || len(insts) != n {
		return false
	}
	for _, in := range insts {
		if in.State != model.InService {
			return false
		}
	}
	return true
}

func draining(r *replicaProc) bool {
	insts, _ := instancesVia(r)
	for _, in := range insts {
		if in.State == model.Draining {
			return true
		}
	}
	return false
}

func pushWant(t *testing.T, r *replicaProc, want int) {
	t.Helper()
	eventually(t, 15*time.Second, fmt.Sprintf("%s to take a push of %d", r.id, want), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return r.c.Push(ctx, "ha", time.Time{}, map[string]float64{"want": float64(want)}) == nil
	})
}

// Three `ebb run` replicas on one PostgreSQL. The leader is killed with
// SIGKILL in the middle of a drain: another takes over and finishes the
// drain. The next leader is paused (SIGSTOP) mid-drain: the third takes
// over, and the paused one, resumed, acts on nothing and exits. No
// instance is launched or stopped twice, none is orphaned, and the
// followers serve reads and forward pushes all along.
func TestHAFailover(t *testing.T) {
	dsn := haDatabase(t, "ha")
	dir := t.TempDir()
	t.Cleanup(func() { killMarked("ha") })

	rs := []*replicaProc{startReplica(t, dir, dsn, "r1"), startReplica(t, dir, dsn, "r2"), startReplica(t, dir, dsn, "r3")}
	first := waitLeader(t, 30*time.Second, rs...)
	var rest []*replicaProc
	for _, r := range rs {
		if r != first {
			rest = append(rest, r)
		}
	}
	follower := rest[0]

	// A push to a follower reaches the leader; the follower's reads show
	// what the leader did.
	pushWant(t, follower, 3)
	eventually(t, 30*time.Second, "3 in service, as a follower shows", func() bool { return settledAt(follower, 3) })
	var out, errb strings.Builder
	if code := mainContext(t.Context(), []string{"status", "--api", follower.url}, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "leader: "+first.id+" at "+first.url+", epoch 1") || !strings.Contains(out.String(), "(this ebb follows it)") {
		t.Errorf("ebb status on a follower: exit %d, %s%s; want it to name %s as leader", code, out.String(), errb.String(), first.id)
	}
	// The follower explains the group's last decision, read back from the
	// journal the leader wrote.
	var ex, exErr strings.Builder
	if code := mainContext(t.Context(), []string{"explain", "ha", "--api", follower.url}, &ex, &exErr); code != 0 ||
		!strings.Contains(ex.String(), "ha at ") || !strings.Contains(ex.String(), "  result: ") {
		t.Errorf("ebb explain on a follower: exit %d, %s%s; want the leader's last decision", code, ex.String(), exErr.String())
	}
	// An instance registers through a follower (forwarded to the leader);
	// every follower serves it from the store the leader wrote.
	rc, err := registry.New(registry.Options{Servers: []string{follower.url + "/eureka"},
		Instance: &registry.Instance{App: "web", InstanceID: "web-1", HostName: "127.0.0.1", IPAddr: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Register(t.Context()); err != nil {
		t.Fatalf("register through a follower: %v", err)
	}
	for _, r := range rest {
		eventually(t, 10*time.Second, "the registration on follower "+r.id, func() bool {
			ids, _ := webInstances(registryOf(t, r))
			return ids["web-1"]
		})
	}
	for r, want := range map[*replicaProc]string{first: "ebb_leader 1", follower: "ebb_leader 0"} {
		var text string
		if err := r.c.Raw(t.Context(), "/metrics", &text); err != nil || !strings.Contains(text, "\n"+want+"\n") {
			t.Errorf("/metrics of %s: %v; want %q", r.id, err, want)
		}
	}

	// Kill the leader while it drains.
	pushWant(t, follower, 1)
	eventually(t, 15*time.Second, "a drain to start", func() bool { return draining(first) })
	first.cmd.Process.Signal(syscall.SIGKILL)
	<-first.done
	killed := time.Now()
	second := waitLeader(t, 15*time.Second, rest...)
	t.Logf("%s killed mid-drain; %s leads %.1fs later", first.id, second.id, time.Since(killed).Seconds())
	eventually(t, 30*time.Second, "the drains to finish under the new leader, 1 in service", func() bool { return settledAt(second, 1) })
	// The new leader holds the registration, its lease current.
	if ids, expired := webInstances(registryOf(t, second)); !ids["web-1"] || expired != 0 {
		t.Errorf("the new leader's registry: %v, %d expired; want web-1 with a current lease", ids, expired)
	}

	// Pause the next leader mid-drain; the last replica takes over.
	var third *replicaProc
	for _, r := range rest {
		if r != second {
			third = r
		}
	}
	pushWant(t, third, 3)
	eventually(t, 30*time.Second, "3 in service", func() bool { return settledAt(third, 3) })
	pushWant(t, third, 1)
	eventually(t, 15*time.Second, "a drain to start", func() bool { return draining(second) })
	second.cmd.Process.Signal(syscall.SIGSTOP)
	paused := time.Now()
	eventually(t, 15*time.Second, fmt.Sprintf("%s to lead while %s is paused", third.id, second.id), func() bool {
		l, err := leaderOf(third)
		return err == nil && l.Self
	})
	t.Logf("%s paused mid-drain; %s leads %.1fs later", second.id, third.id, time.Since(paused).Seconds())
	eventually(t, 30*time.Second, "the drains to finish under the third leader, 1 in service", func() bool { return settledAt(third, 1) })

	// Resumed, the old leader finds it was deposed: it acts on nothing
	// and exits.
	second.cmd.Process.Signal(syscall.SIGCONT)
	select {
	case <-second.done:
		if err := second.err; err == nil || !strings.Contains(second.log(), "lost the lead") {
			t.Errorf("the resumed old leader exited with %v; want an error saying it lost the lead", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the resumed old leader %s did not exit", second.id)
	}
	pushWant(t, third, 2)
	eventually(t, 30*time.Second, "2 in service", func() bool { return settledAt(third, 2) })

	// What the database holds: nothing open, every instance stopped at
	// most once, every running instance known.
	third.cmd.Process.Signal(syscall.SIGTERM)
	<-third.done
	st, err := store.OpenPostgres(t.Context(), store.PostgresOptions{DSN: func() (string, error) { return dsn, nil }, ID: "check"}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var insts []model.Instance
	var open []store.Intent
	st.View(func(tx *store.Tx) error {
		insts, _ = tx.Instances("ha")
		open, _ = tx.OpenIntents("ha")
		return nil
	})
	if len(open) != 0 {
		t.Errorf("open intents after settling: %+v", open)
	}
	checkStoppedOnce(t, dir, "ha", insts)
	drained := 0
	for _, in := range insts {
		if in.Reason == "exited after draining" {
			drained++
		}
	}
	if len(insts) != 6 || drained != 4 {
		t.Errorf("%d instances launched, %d drained; want 6 launched (3, 2 more, 1 more) and 4 drained", len(insts), drained)
	}
}

// haDatabase makes an empty database on the package's PostgreSQL.
func haDatabase(t *testing.T, name string) string {
	t.Helper()
	pg := testserver.Shared(t, &servers, "postgres", testserver.Postgres)
	dsn, err := pg.Database(name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// Two replicas electing by a Kubernetes Lease on a real kube-apiserver:
// the Lease names the leader; killed, it is replaced by the other within
// the lease, at the next epoch; stopped, the last one gives the Lease up.
func TestHAKubernetesLease(t *testing.T) {
	kube, cs := kubeClient(t)
	dsn := haDatabase(t, "halease")
	dir := t.TempDir()
	t.Cleanup(func() { killMarked("ha") })
	election := fmt.Sprintf(", kubernetes_lease: {name: ebb-ha, namespace: default, kubeconfig: %q}", kube.Kubeconfig)
	rs := []*replicaProc{startReplica(t, dir, dsn, "k1", election), startReplica(t, dir, dsn, "k2", election)}
	holder := func() string {
		lease, err := cs.CoordinationV1().Leases("default").Get(t.Context(), "ebb-ha", metav1.GetOptions{})
		if err != nil || lease.Spec.HolderIdentity == nil {
			return ""
		}
		return *lease.Spec.HolderIdentity
	}
	first := waitLeader(t, 30*time.Second, rs...)
	if h := holder(); h != first.id {
		t.Fatalf("the Lease is held by %q; %s says it leads", h, first.id)
	}
	other := rs[0]
	if other == first {
		other = rs[1]
	}
	pushWant(t, other, 1) // forwarded to the leader
	eventually(t, 30*time.Second, "1 in service", func() bool { return settledAt(other, 1) })

	first.cmd.Process.Signal(syscall.SIGKILL)
	<-first.done
	killed := time.Now()
	if got := waitLeader(t, 15*time.Second, other); got != other {
		t.Fatalf("%s leads after %s was killed", got.id, first.id)
	}
	t.Logf("%s killed; %s leads %.1fs later", first.id, other.id, time.Since(killed).Seconds())
	if l, err := leaderOf(other); err != nil || l.Epoch != 2 {
		t.Errorf("the new leader's term: %+v, %v; want epoch 2", l, err)
	}
	if h := holder(); h != other.id {
		t.Errorf("the Lease is held by %q; want %s", h, other.id)
	}
	eventually(t, 30*time.Second, "1 in service under the new leader", func() bool { return settledAt(other, 1) })

	other.cmd.Process.Signal(syscall.SIGTERM)
	<-other.done
	if other.err != nil {
		t.Errorf("the leader stopped with SIGTERM exited with %v", other.err)
	}
	if h := holder(); h != "" {
		t.Errorf("the Lease is held by %q after its holder stopped; want it given up", h)
	}
}

// A replica's EBB_ADVERTISE that is not an http URL is refused before
// anything is started, saying what it must be.
func TestRunRefusesABadAdvertise(t *testing.T) {
	dir := t.TempDir()
	cfg := write(t, "r.yaml", haConfig(dir, "postgres://127.0.0.1:1/none", "r1", freeTCPPort(t), ""))
	t.Setenv("EBB_ADVERTISE", "ftp://10.0.0.5")
	code, _, errs := run(t, "run", "-c", cfg)
	if code == 0 || !strings.Contains(errs, `EBB_ADVERTISE="ftp://10.0.0.5": must be an http or https URL`) {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
}
