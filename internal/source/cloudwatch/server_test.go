package cloudwatch

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// server is a loopback CloudWatch speaking GetMetricData as the SDK
// (v1.75) sends it: Smithy RPC v2 CBOR, POST
// /service/GraniteServiceVersion20100801/operation/GetMetricData with a
// CBOR body, a CBOR answer; errors are a CBOR {__type, message} with the
// query-compatible code in X-Amzn-Query-Error. It holds datapoints per
// statistic and counts the requests and their queries.
type server struct {
	*httptest.Server

	mu      sync.Mutex
	points  map[string][]point // by key(namespace, metric, stat, period, dims)
	queries []int              // per request: how many statistics it asked
	windows [][2]time.Time     // per request: start, end
	fail    int                // status to answer with, 0 for none
	code    string             // the error's code
}

type point struct {
	at time.Time
	v  float64
}

const path = "/service/GraniteServiceVersion20100801/operation/GetMetricData"

func newServer(t *testing.T) *server {
	s := &server{points: map[string][]point{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func key(namespace, metric, stat string, period int, dims ...string) string {
	slices.Sort(dims)
	return fmt.Sprintf("%s|%s|%s|%d|%s", namespace, metric, stat, period, strings.Join(dims, ","))
}

func (s *server) put(k string, at time.Time, v float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.points[k] = append(s.points[k], point{at, v})
}

func (s *server) failWith(status int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail, s.code = status, code
}

func (s *server) requests() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.queries)
}

func (s *server) lastWindow() [2]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.windows[len(s.windows)-1]
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != path || r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" ||
		r.Header.Get("Content-Type") != "application/cbor" {
		http.Error(w, "not GetMetricData over rpc-v2-cbor", http.StatusNotFound)
		return
	}
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, 0)
	if s.fail != 0 {
		w.Header().Set("X-Amzn-Query-Error", s.code+";Sender")
		w.WriteHeader(s.fail)
		_, _ = w.Write(cbor.Encode(cbor.Map{"__type": cbor.String(s.code), "message": cbor.String("Rate exceeded")}))
		return
	}
	body, _ := io.ReadAll(r.Body)
	out, err := s.answer(body)
	if err != nil {
		w.Header().Set("X-Amzn-Query-Error", "InvalidParameterValue;Sender")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(cbor.Encode(cbor.Map{"__type": cbor.String("InvalidParameterValue"), "message": cbor.String(err.Error())}))
		return
	}
	_, _ = w.Write(cbor.Encode(out))
}

func (s *server) answer(body []byte) (cbor.Value, error) {
	v, err := cbor.Decode(body)
	if err != nil {
		return nil, err
	}
	in, ok := v.(cbor.Map)
	if !ok {
		return nil, fmt.Errorf("body is %T", v)
	}
	start, err := cbor.AsTime(in["StartTime"])
	if err != nil {
		return nil, fmt.Errorf("StartTime: %w", err)
	}
	end, err := cbor.AsTime(in["EndTime"])
	if err != nil {
		return nil, fmt.Errorf("EndTime: %w", err)
	}
	if in["ScanBy"] != cbor.String("TimestampDescending") {
		return nil, fmt.Errorf("ScanBy is %v", in["ScanBy"])
	}
	qs, _ := in["MetricDataQueries"].(cbor.List)
	if len(qs) == 0 || len(qs) > 500 {
		return nil, fmt.Errorf("%d MetricDataQueries, want 1 to 500", len(qs))
	}
	s.queries[len(s.queries)-1] = len(qs)
	s.windows = append(s.windows, [2]time.Time{start, end})
	var results cbor.List
	for _, qv := range qs {
		q := qv.(cbor.Map)
		id := string(q["Id"].(cbor.String))
		ms := q["MetricStat"].(cbor.Map)
		m := ms["Metric"].(cbor.Map)
		var dims []string
		if ds, ok := m["Dimensions"].(cbor.List); ok {
			for _, d := range ds {
				dm := d.(cbor.Map)
				dims = append(dims, string(dm["Name"].(cbor.String))+"="+string(dm["Value"].(cbor.String)))
			}
		}
		k := key(string(m["Namespace"].(cbor.String)), string(m["MetricName"].(cbor.String)),
			string(ms["Stat"].(cbor.String)), int(ms["Period"].(cbor.Uint)), dims...)
		var in []point
		for _, p := range s.points[k] {
			if !p.at.Before(start) && p.at.Before(end) {
				in = append(in, p)
			}
		}
		sort.Slice(in, func(i, j int) bool { return in[i].at.After(in[j].at) })
		ts, vs := cbor.List{}, cbor.List{}
		for _, p := range in {
			ts = append(ts, &cbor.Tag{ID: 1, Value: cbor.Float64(float64(p.at.UnixMilli()) / 1000)})
			vs = append(vs, cbor.Float64(p.v))
		}
		results = append(results, cbor.Map{"Id": cbor.String(id), "Label": cbor.String(k),
			"StatusCode": cbor.String("Complete"), "Timestamps": ts, "Values": vs})
	}
	return cbor.Map{"MetricDataResults": results, "Messages": cbor.List{}}, nil
}
