package ecs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/provider/aws/awstest"
)

// step is one ECS call as a test expects it: for UpdateTaskProtection,
// the tasks and whether it turns protection on.
type step struct {
	Action  string
	Tasks   []string // UpdateTaskProtection, GetTaskProtection, StopTask
	On      bool     // UpdateTaskProtection
	Minutes float64  // UpdateTaskProtection on
	Desired float64  // UpdateService
}

// steps are the test service's calls since call number from, in order.
func steps(srv *awstest.Server, from int) []step {
	var out []step
	for _, c := range srv.Calls("")[from:] {
		s := step{Action: c.Action}
		switch c.Action {
		case "UpdateTaskProtection":
			s.On, _ = c.JSON["protectionEnabled"].(bool)
			s.Minutes, _ = c.JSON["expiresInMinutes"].(float64)
			fallthrough
		case "GetTaskProtection":
			for _, t := range c.JSON["tasks"].([]any) {
				s.Tasks = append(s.Tasks, t.(string))
			}
		case "StopTask":
			s.Tasks = []string{c.JSON["task"].(string)}
		case "UpdateService":
			s.Desired, _ = c.JSON["desiredCount"].(float64)
		}
		out = append(out, s)
	}
	return out
}

func ids(tasks []awstest.Task) []string {
	var out []string
	for _, t := range tasks {
		out = append(out, t.ID)
	}
	return out
}

// without returns ids less those in drop, in order.
func without(ids []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return slices.Contains(drop, id) })
}

// union is the tasks of the steps, sorted.
func union(ss []step) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Tasks...)
	}
	slices.Sort(out)
	return out
}

// The service scheduler acts the moment the count drops, before ebb's
// StopTask lands: it must still stop ebb's victim, and only it. The tasks
// ebb keeps are protected in batches of at most 10, a task's own
// protection is kept, the victim's own is taken off, and what ebb set is
// taken off again afterwards.
func TestRemoveProtectsTheTasksItKeeps(t *testing.T) {
	srv := fake(t)
	tasks := ids(running(t, srv, 23))
	victim := tasks[0] // the oldest: the scheduler would stop the newest
	worker := tasks[5] // protected by itself for 3 hours: left alone
	brief := tasks[6]  // protected by itself for 30s: extended, not released
	srv.Protect(cluster, victim, time.Hour)
	srv.Protect(cluster, worker, 3*time.Hour)
	srv.Protect(cluster, brief, 30*time.Second)
	srv.ScheduleAfter("UpdateService", true)
	defer srv.ScheduleAfter("UpdateService", false)
	p, _ := openP(t, cfg(t, srv))
	before := len(srv.Calls(""))

	if err := p.Remove(context.Background(), []provider.Victim{{ID: victim}}); err != nil {
		t.Fatal(err)
	}

	got := steps(srv, before)
	// The hold: 4 calls after the protection (the victim's release, the
	// count's read and write, one stop) of at most 5 × 10s + 4 × 5s each,
	// and a minute: 340s, 6 minutes.
	const hold = 6
	var actions []string
	var guard, release []step
	for _, s := range got {
		actions = append(actions, s.Action)
		if s.Action == "UpdateTaskProtection" && len(s.Tasks) > setProtectionBatch {
			t.Errorf("UpdateTaskProtection of %d tasks", len(s.Tasks))
		}
		if s.Action == "UpdateTaskProtection" && s.On {
			guard = append(guard, s)
			if s.Minutes != hold {
				t.Errorf("protected for %v minutes, want %d", s.Minutes, hold)
			}
		}
	}
	wantActions := []string{"ListTasks", "GetTaskProtection",
		"UpdateTaskProtection", "UpdateTaskProtection", "UpdateTaskProtection", // 21 kept: 10, 10, 1
		"UpdateTaskProtection", // the victim's own, off
		"DescribeServices", "UpdateService", "StopTask",
		"UpdateTaskProtection", "UpdateTaskProtection"} // 20 released: 10, 10
	if d := cmp.Diff(wantActions, actions); d != "" {
		t.Fatalf("calls (-want +got):\n%s", d)
	}
	release = got[9:]
	if d := cmp.Diff([]string{victim}, got[5].Tasks); d != "" || got[5].On {
		t.Errorf("the victim's protection: %+v", got[5])
	}
	if d := cmp.Diff(sorted(tasks), union(got[1:2])); d != "" {
		t.Errorf("protection read of (-want +got):\n%s", d)
	}
	if d := cmp.Diff(sorted(without(tasks, victim, worker)), union(guard)); d != "" {
		t.Errorf("protected (-want +got):\n%s", d)
	}
	if d := cmp.Diff(sorted(without(tasks, victim, worker, brief)), union(release)); d != "" {
		t.Errorf("released (-want +got):\n%s", d)
	}
	if got[7].Desired != 22 || got[8].Tasks[0] != victim {
		t.Errorf("count set to %v, stopped %v; want 22, %s", got[7].Desired, got[8].Tasks, victim)
	}

	// The scheduler stopped the victim (StopTask then found it stopping):
	// every other task runs, with the protection it had.
	srv.ConvergeService(cluster, name(t))
	left := ids(meantToRun(t, srv))
	if d := cmp.Diff(sorted(without(tasks, victim)), sorted(left)); d != "" {
		t.Fatalf("tasks left (-want +got):\n%s", d)
	}
	for _, id := range left {
		if want := id == worker || id == brief; srv.Protected(cluster, id) != want {
			t.Errorf("task %s protected = %v, want %v", id, !want, want)
		}
	}
}

// meantToRun are the test service's tasks not stopping.
func meantToRun(t *testing.T, srv *awstest.Server) []awstest.Task {
	return slices.DeleteFunc(mine(t, srv), func(tk awstest.Task) bool { return tk.DesiredStatus != "RUNNING" })
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// A task ECS refuses to protect stops the removal before the count drops,
// and what was protected is unprotected again.
func TestRemoveRefusedProtectionChangesNothing(t *testing.T) {
	srv := fake(t)
	tasks := ids(running(t, srv, 14))
	srv.RefuseProtection(tasks[12], "TASK_NOT_VALID") // in the second batch
	defer srv.RefuseProtection(tasks[12], "")
	p, _ := openP(t, cfg(t, srv))
	before := len(srv.Calls(""))

	err := p.Remove(context.Background(), []provider.Victim{{ID: tasks[0]}})
	if !errors.Is(err, ErrProtection) || !strings.Contains(err.Error(), "task "+tasks[12]+": TASK_NOT_VALID (refused by the test)") {
		t.Fatalf("err = %v, want the refused task named", err)
	}
	var actions []string
	for _, s := range steps(srv, before) {
		actions = append(actions, fmt.Sprint(s.Action, " ", len(s.Tasks), " ", s.On))
	}
	want := []string{"ListTasks 0 false", "GetTaskProtection 14 false",
		"UpdateTaskProtection 10 true", "UpdateTaskProtection 3 true",
		"UpdateTaskProtection 10 false", "UpdateTaskProtection 2 false"} // the 12 that were set
	if d := cmp.Diff(want, actions); d != "" {
		t.Fatalf("calls (-want +got):\n%s", d)
	}
	if got := srv.ServiceDesired(cluster, name(t)); got != 14 {
		t.Fatalf("desired count %d, want 14 untouched", got)
	}
	for _, tk := range mine(t, srv) {
		if tk.DesiredStatus != "RUNNING" || srv.Protected(cluster, tk.ID) {
			t.Errorf("task %s: %s, protected %v", tk.ID, tk.DesiredStatus, srv.Protected(cluster, tk.ID))
		}
	}
}

// Task protection calls are throttled like any other and retried within
// the group's tries; beyond them the removal fails with nothing changed.
func TestRemoveRetriesThrottledProtection(t *testing.T) {
	for _, tt := range []struct {
		name      string
		throttled int
		wantCalls int // UpdateTaskProtection attempts
		wantErr   string
	}{
		{name: "throttled twice", throttled: 2, wantCalls: 2 + 2},
		{name: "throttled beyond tries", throttled: 9, wantCalls: 5, wantErr: "protect 2 tasks of service"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := fake(t)
			tasks := ids(running(t, srv, 3))
			p, _ := openP(t, cfg(t, srv))
			before := len(srv.Calls("UpdateTaskProtection"))
			srv.Throttle("UpdateTaskProtection", tt.throttled)
			defer srv.Throttle("UpdateTaskProtection", 0)

			err := p.Remove(context.Background(), []provider.Victim{{ID: tasks[1]}})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil ||
				!strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "ThrottlingException: Rate exceeded")) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if n := len(srv.Calls("UpdateTaskProtection")) - before; n != tt.wantCalls {
				t.Fatalf("%d UpdateTaskProtection calls, want %d", n, tt.wantCalls)
			}
			wantDesired := 2
			if tt.wantErr != "" {
				wantDesired = 3
			}
			if got := srv.ServiceDesired(cluster, name(t)); got != wantDesired {
				t.Fatalf("desired count %d, want %d", got, wantDesired)
			}
			for _, id := range tasks {
				if srv.Protected(cluster, id) {
					t.Errorf("task %s left protected", id)
				}
			}
		})
	}
}

// Once the count has dropped the removal is done: a StopTask that fails
// leaves the kept tasks protected, and the scheduler stops the victim.
func TestRemoveWhenStopTaskFails(t *testing.T) {
	srv := fake(t)
	tasks := ids(running(t, srv, 4))
	c := cfg(t, srv)
	c.Tries = 2
	p, _ := openP(t, c)
	srv.Fail("StopTask", 2)
	defer srv.Fail("StopTask", 0)

	if err := p.Remove(context.Background(), []provider.Victim{{ID: tasks[0]}}); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if got := srv.ServiceDesired(cluster, name(t)); got != 3 {
		t.Fatalf("desired count %d, want 3", got)
	}
	for _, id := range tasks[1:] {
		if !srv.Protected(cluster, id) {
			t.Errorf("kept task %s unprotected while the scheduler has yet to act", id)
		}
	}
	srv.ConvergeService(cluster, name(t))
	if d := cmp.Diff(sorted(tasks[1:]), sorted(ids(meantToRun(t, srv)))); d != "" {
		t.Fatalf("tasks left (-want +got):\n%s", d)
	}
}

func TestPlanProtection(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	until := now.Add(6 * time.Minute)
	prot := map[string]protection{
		"a": {},                                      // unprotected
		"b": {on: true, until: now.Add(time.Minute)}, // expires within the hold
		"c": {on: true, until: now.Add(time.Hour)},   // outlasts it
		"v": {on: true, until: now.Add(time.Hour)},   // a protected victim
		"w": {},                                      // an unprotected victim
		// "gone": not known any more
	}
	got := planProtection([]string{"a", "b", "c", "gone"}, []string{"v", "w"}, prot, until)
	want := plan{guard: []string{"a", "b"}, release: []string{"a"}, bare: []string{"v"}}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(plan{})); d != "" {
		t.Fatalf("plan (-want +got):\n%s", d)
	}
}
