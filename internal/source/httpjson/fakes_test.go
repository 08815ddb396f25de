package httpjson

import (
	"encoding/json"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// counter counts the requests a loopback server answers, by path.
type counter struct {
	mu   sync.Mutex
	hits map[string]int
	last http.Header // the newest request's headers
}

func (c *counter) count(r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hits == nil {
		c.hits = map[string]int{}
	}
	c.hits[r.URL.Path]++
	c.last = r.Header.Clone()
}

func (c *counter) get(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits[path]
}

func (c *counter) header(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last.Get(name)
}

// document reads a testdata JSON document captured in the server's shape.
func document(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// trino is a loopback Trino node speaking the coordinator's /ui/api/stats
// (Trino) and /v1/cluster (Presto), and a worker's /v1/status and
// /v1/info/state, in the shapes of the testdata documents; the test sets
// its state between reads.
type trino struct {
	counter
	*httptest.Server
	stats, cluster, status map[string]any

	mu       sync.Mutex
	queued   float64
	running  float64
	reserved float64 // the worker's pool reservedBytes
	state    string
}

func newTrino(t *testing.T) *trino {
	f := &trino{stats: document(t, "trino-ui-stats.json"), cluster: document(t, "presto-cluster.json"),
		status: document(t, "trino-worker-status.json"), state: "ACTIVE"}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *trino) set(queued, running, reserved float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queued, f.running, f.reserved = queued, running, reserved
}

func (f *trino) serve(w http.ResponseWriter, r *http.Request) {
	f.count(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && (r.URL.Path == "/ui/api/stats" || r.URL.Path == "/v1/cluster"):
		doc := maps.Clone(f.stats)
		if r.URL.Path == "/v1/cluster" {
			doc = maps.Clone(f.cluster)
		}
		doc["queuedQueries"], doc["runningQueries"] = f.queued, f.running
		writeJSON(w, doc)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/status":
		doc := maps.Clone(f.status)
		mem := maps.Clone(doc["memoryInfo"].(map[string]any))
		pool := maps.Clone(mem["pool"].(map[string]any))
		pool["reservedBytes"] = f.reserved
		pool["freeBytes"] = pool["maxBytes"].(float64) - f.reserved
		mem["pool"] = pool
		doc["memoryInfo"] = mem
		writeJSON(w, doc)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/info/state":
		writeJSON(w, f.state)
	case r.Method == http.MethodPut && r.URL.Path == "/v1/info/state":
		// Trino's ServerInfoResource: MANAGEMENT_WRITE needs a user; the
		// body is a JSON NodeState.
		if r.Header.Get("X-Trino-User") == "" {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		var state string
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &state); err != nil || !slices.Contains([]string{"ACTIVE", "SHUTTING_DOWN"}, state) {
			http.Error(w, "Invalid state "+strings.TrimSpace(string(body)), http.StatusBadRequest)
			return
		}
		f.state = state
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// flink is a loopback Flink REST endpoint answering
// GET /jobs/:jobid/vertices/:vertexid/subtasks/metrics?get=a,b&agg=sum,max
// like AggregatingSubtasksMetricsHandler: one object per known metric
// asked, with only the aggregations asked (AggregatedMetric omits nulls).
type flink struct {
	counter
	*httptest.Server
	mu       sync.Mutex
	subtasks map[string][]float64 // metric → value per subtask
}

const (
	flinkJob    = "8d5f3c2a9e0b4c1d8e7f6a5b4c3d2e1f"
	flinkVertex = "cbc357ccb763df2852fee8c4fc7d55f2"
)

func newFlink(t *testing.T) *flink {
	f := &flink{subtasks: map[string][]float64{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *flink) set(metric string, perSubtask ...float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subtasks[metric] = perSubtask
}

func (f *flink) serve(w http.ResponseWriter, r *http.Request) {
	f.count(r)
	want := "/jobs/" + flinkJob + "/vertices/" + flinkVertex + "/subtasks/metrics"
	if r.Method != http.MethodGet || r.URL.Path != want {
		w.WriteHeader(http.StatusNotFound)
		writeJSON(w, map[string]any{"errors": []string{"Not found: " + r.URL.Path}})
		return
	}
	aggs := strings.Split(r.URL.Query().Get("agg"), ",")
	if r.URL.Query().Get("agg") == "" {
		aggs = []string{"min", "max", "avg", "sum"}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []map[string]any{}
	for _, id := range strings.Split(r.URL.Query().Get("get"), ",") {
		vals, ok := f.subtasks[id]
		if !ok || len(vals) == 0 {
			continue
		}
		m := map[string]any{"id": id}
		sum, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
		for _, v := range vals {
			sum, lo, hi = sum+v, min(lo, v), max(hi, v)
		}
		for _, a := range aggs {
			switch a {
			case "sum":
				m["sum"] = sum
			case "min":
				m["min"] = lo
			case "max":
				m["max"] = hi
			case "avg":
				m["avg"] = sum / float64(len(vals))
			}
		}
		out = append(out, m)
	}
	writeJSON(w, out)
}
