package sqs

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/Admiral-Piett/goaws/app"
	"github.com/Admiral-Piett/goaws/app/router"
)

// goaws is the goaws SQS server run in-process on loopback. goaws 0.4.5
// speaks SQS's query protocol (form posts, XML) while the SDK (v1.53)
// speaks AWS JSON 1.0, so the server fronts goaws with a translation of
// the two calls the source makes (GetQueueUrl, GetQueueAttributes) and
// counts them; the queues, their messages and visibility are goaws's own.
// Tests drive goaws directly (create, send, receive, delete) with form
// posts, as goaws's own clients do.
type goaws struct {
	*httptest.Server
	goaws http.Handler

	mu    sync.Mutex
	calls map[string]int // by operation

	// goaws's queues live as long as the process, so tests name theirs
	// afresh and -count=N runs again on a clean slate.
	seq atomic.Int64
}

// unique returns base with a number no other queue of the process has.
func (g *goaws) unique(base string) string { return fmt.Sprintf("%s%d", base, g.seq.Add(1)) }

// goawsOnce guards goaws's package state (queues, environment), of which
// there is one per process.
var goawsOnce sync.Once

func startGoaws() (*goaws, error) {
	g := &goaws{goaws: router.New(), calls: map[string]int{}}
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	u, err := url.Parse(g.URL)
	if err != nil {
		return nil, err
	}
	goawsOnce.Do(func() {
		app.CurrentEnvironment.Host = u.Hostname()
		app.CurrentEnvironment.Port = u.Port()
		app.CurrentEnvironment.AccountID = "100010001000"
		app.CurrentEnvironment.QueueAttributeDefaults.VisibilityTimeout = 300
	})
	return g, nil
}

func (g *goaws) Stop() { g.Close() }

func (g *goaws) count(op string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[op]
}

func (g *goaws) serve(w http.ResponseWriter, r *http.Request) {
	target, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	if !ok {
		g.goaws.ServeHTTP(w, r)
		return
	}
	g.mu.Lock()
	g.calls[target]++
	g.mu.Unlock()
	var in struct {
		QueueURL       string   `json:"QueueUrl"`
		QueueName      string   `json:"QueueName"`
		AttributeNames []string `json:"AttributeNames"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form := url.Values{"Action": {target}}
	switch target {
	case "GetQueueUrl":
		form.Set("QueueName", in.QueueName)
	case "GetQueueAttributes":
		form.Set("QueueUrl", in.QueueURL)
		for i, a := range in.AttributeNames {
			form.Set("AttributeName."+strconv.Itoa(i+1), a)
		}
	default:
		http.Error(w, "not translated: "+target, http.StatusNotImplemented)
		return
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	g.goaws.ServeHTTP(rec, req)

	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	body := rec.Body.Bytes()
	if rec.Code != http.StatusOK {
		var e struct {
			Code    string `xml:"Error>Code"`
			Message string `xml:"Error>Message"`
		}
		_ = xml.Unmarshal(body, &e)
		typ := e.Code
		if e.Code == "AWS.SimpleQueueService.NonExistentQueue" {
			typ = "com.amazonaws.sqs#QueueDoesNotExist"
		}
		w.Header().Set("X-Amzn-Query-Error", e.Code+";Sender")
		w.WriteHeader(rec.Code)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": e.Message})
		return
	}
	var out any
	switch target {
	case "GetQueueUrl":
		var x struct {
			URL string `xml:"GetQueueUrlResult>QueueUrl"`
		}
		if err := xml.Unmarshal(body, &x); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out = map[string]string{"QueueUrl": x.URL}
	case "GetQueueAttributes":
		var x struct {
			Attrs []struct{ Name, Value string } `xml:"GetQueueAttributesResult>Attribute"`
		}
		if err := xml.Unmarshal(body, &x); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		attrs := map[string]string{}
		for _, a := range x.Attrs {
			attrs[a.Name] = a.Value
		}
		out = map[string]any{"Attributes": attrs}
	}
	_ = json.NewEncoder(w).Encode(out)
}

// do sends one query-protocol action to goaws and returns its XML answer.
func (g *goaws) do(t *testing.T, action string, params ...string) string {
	t.Helper()
	form := url.Values{"Action": {action}, "Version": {"2012-11-05"}}
	for i := 0; i+1 < len(params); i += 2 {
		form.Set(params[i], params[i+1])
	}
	resp, err := http.PostForm(g.URL+"/", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", action, resp.StatusCode, b)
	}
	return string(b)
}

func (g *goaws) createQueue(t *testing.T, name string) string {
	t.Helper()
	var x struct {
		URL string `xml:"CreateQueueResult>QueueUrl"`
	}
	if err := xml.Unmarshal([]byte(g.do(t, "CreateQueue", "QueueName", name)), &x); err != nil || x.URL == "" {
		t.Fatalf("create queue %s: %v %q", name, err, x.URL)
	}
	return x.URL
}

func (g *goaws) send(t *testing.T, queueURL string, n int) {
	t.Helper()
	for i := range n {
		g.do(t, "SendMessage", "QueueUrl", queueURL, "MessageBody", fmt.Sprintf("m%d", i))
	}
}

// receive takes n messages in flight and returns their receipt handles.
func (g *goaws) receive(t *testing.T, queueURL string, n int) []string {
	t.Helper()
	var x struct {
		Handles []string `xml:"ReceiveMessageResult>Message>ReceiptHandle"`
	}
	if err := xml.Unmarshal([]byte(g.do(t, "ReceiveMessage", "QueueUrl", queueURL, "MaxNumberOfMessages", strconv.Itoa(n))), &x); err != nil {
		t.Fatal(err)
	}
	if len(x.Handles) != n {
		t.Fatalf("received %d messages, want %d", len(x.Handles), n)
	}
	return x.Handles
}

func (g *goaws) remove(t *testing.T, queueURL string, handles []string) {
	t.Helper()
	for _, h := range handles {
		g.do(t, "DeleteMessage", "QueueUrl", queueURL, "ReceiptHandle", h)
	}
}
