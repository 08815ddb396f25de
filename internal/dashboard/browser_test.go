package dashboard_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/ebb-autoscaler/ebb/internal/daemon"
	"github.com/ebb-autoscaler/ebb/internal/server"
)

// waitFor waits, at most 20 s, until the JavaScript expression is truthy in
// the page.
func waitFor(t testing.TB, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("wait for %s: %v\nthe page says: %s", what, err, pageText(ctx))
	}
}

// pageText is the visible text of the page, for failure messages.
func pageText(ctx context.Context) string {
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

func do(t testing.TB, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%v\nthe page says: %s", err, pageText(ctx))
	}
}

func eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// watchDialogs records every JavaScript dialog (alert, confirm, prompt) the
// tab opens from now on; the page itself never opens one.
func watchDialogs(ctx context.Context) func() []string {
	opened := make(chan string, 16)
	events := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			opened <- ev.Message
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return func() []string {
		var got []string
		for {
			select {
			case m := <-opened:
				got = append(got, m)
			default:
				return got
			}
		}
	}
}

// eventually retries cond, at most within, until it is true.
func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 20*time.Millisecond, 250*time.Millisecond
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		if cond() {
			return struct{}{}, nil
		}
		return struct{}{}, errors.New("not yet")
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(within))
	if err != nil {
		t.Fatalf("%s: not within %s", what, within)
	}
}

// serve serves h on loopback until t ends; the page's event stream, which
// never ends by itself, is cut first.
func serve(t testing.TB, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

func rowCount(n int) string {
	return fmt.Sprintf(`document.querySelectorAll('#groups tbody tr[data-group]').length === %d`, n)
}

func TestOverviewListsGroups(t *testing.T) {
	e := sharedEbb(t)
	ctx := tab(t)
	all := batchGroups + 2
	do(t, ctx, chromedp.Navigate(e.URL+"/"))
	waitFor(t, ctx, "every group listed", rowCount(all))
	waitFor(t, ctx, "the count", fmt.Sprintf(`document.getElementById('summary').textContent === '%d groups'`, all))
	waitFor(t, ctx, "web's bounds", `document.querySelector('tr[data-group="web"] .capacity').textContent.replace(/\s+/g, ' ').startsWith('1 ≤')`)
	waitFor(t, ctx, "the live stream", `document.getElementById('live').textContent === 'live'`)

	// The filter is applied by the server and kept in the address.
	do(t, ctx, chromedp.SendKeys(chromedp.ID("filter"), "batch-01"))
	waitFor(t, ctx, "ten groups matching batch-01", rowCount(10)+` && location.hash.includes('filter=batch-01')`)
	waitFor(t, ctx, "the filtered count", fmt.Sprintf(`document.getElementById('summary').textContent === '10 of %d groups match'`, all))
	// And the page works from its address alone.
	do(t, ctx, chromedp.Navigate(e.URL+"/#/?filter=feed"))
	waitFor(t, ctx, "feed alone", rowCount(1)+` && document.querySelector('tr[data-group="feed"]') !== null`)
}

func TestPushedSignalAppearsWithoutReload(t *testing.T) {
	e := sharedEbb(t)
	ctx := tab(t)
	do(t, ctx, chromedp.Navigate(e.URL+"/#/?filter=batch-003"))
	waitFor(t, ctx, "batch-003 listed", rowCount(1)+` && document.getElementById('live').textContent === 'live'`)
	// A reload would lose this.
	eval[bool](t, ctx, `window.sameLoad = true`)
	if err := e.API.Push(context.Background(), "batch-003", time.Time{}, map[string]float64{"queue": 123}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the pushed value in the row", `(() => {
		const v = document.querySelector('tr[data-group="batch-003"] [data-signal="queue"] .sig-value');
		return v && v.textContent === '123';
	})()`)
	// 123 ÷ 5 per instance: desired 20 (the max), shown too.
	waitFor(t, ctx, "the new desired count", `document.querySelector('tr[data-group="batch-003"] .desired').textContent === '20'`)
	if !eval[bool](t, ctx, `window.sameLoad === true`) {
		t.Fatal("the page reloaded")
	}
}

func TestDecisionExplanationOpens(t *testing.T) {
	e := sharedEbb(t)
	ctx := tab(t)
	if err := e.API.Push(context.Background(), "batch-004", time.Time{}, map[string]float64{"queue": 12}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate(e.URL+"/#/group/batch-004"))
	waitFor(t, ctx, "a decision scaling to 3", `[...document.querySelectorAll('#journal details.decision summary')].some((s) => s.textContent.includes('0→3'))`)
	if eval[bool](t, ctx, `document.querySelector('#journal .explanation').checkVisibility()`) {
		t.Fatal("the explanation shows before it is opened")
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`#journal details.decision summary`)))
	waitFor(t, ctx, "the explanation", `document.querySelector('#journal .explanation').checkVisibility()`)
	text := eval[string](t, ctx, `document.querySelector('#journal .explanation').innerText`)
	for _, want := range []string{"Inputs", "queue\t12", "Policies", "queue(queue)", "decided", "Limits applied"} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation lacks %q:\n%s", want, text)
		}
	}
}

func TestActionNeedsTheToken(t *testing.T) {
	e := sharedEbb(t)
	ctx := tab(t)
	desired := func() int {
		var g daemon.GroupView
		if err := e.API.Group(context.Background(), "batch-005", &g); err != nil {
			t.Fatal(err)
		}
		return g.Desired
	}
	do(t, ctx, chromedp.Navigate(e.URL+"/#/group/batch-005"))
	waitFor(t, ctx, "the group's cards", `document.querySelector('#cards .desired .card-value') !== null`)

	scale := func() {
		t.Helper()
		do(t, ctx,
			chromedp.SetValue(chromedp.ID("scale-to"), "7"),
			chromedp.Click(chromedp.ID("scale")))
		waitFor(t, ctx, "the confirmation", `document.getElementById('confirm').open && document.getElementById('confirm-text').textContent === 'Scale batch-005 to 7?'`)
		do(t, ctx, chromedp.Click(chromedp.ID("confirm-ok")))
	}
	// Without a token: refused, and the page asks for one.
	scale()
	waitFor(t, ctx, "the refusal", `document.getElementById('notice').textContent.startsWith('Refused (401)')`)
	waitFor(t, ctx, "the token dialog", `document.getElementById('token-dialog').open`)
	if got := desired(); got != 0 {
		t.Fatalf("desired %d after a refused scale", got)
	}
	do(t, ctx,
		chromedp.SetValue(chromedp.ID("token-input"), e.Token),
		chromedp.Click(chromedp.ID("token-save")))
	waitFor(t, ctx, "the dialog closed", `!document.getElementById('token-dialog').open && sessionStorage.getItem('ebb.token') !== null`)

	// With it: done, and shown.
	scale()
	waitFor(t, ctx, "success", `document.getElementById('notice').textContent === 'Done: Scale batch-005 to 7'`)
	if got := desired(); got != 7 {
		t.Fatalf("desired %d after the scale, want 7", got)
	}
	waitFor(t, ctx, "the new desired count", `document.querySelector('#cards .desired .card-value').textContent === '7'`)
	waitFor(t, ctx, "the operator log", `document.getElementById('operator').textContent.includes('desired 0 → 7')`)

	// Cancelled: nothing is sent.
	do(t, ctx, chromedp.SetValue(chromedp.ID("scale-to"), "2"), chromedp.Click(chromedp.ID("scale")))
	waitFor(t, ctx, "the confirmation", `document.getElementById('confirm').open`)
	do(t, ctx, chromedp.Click(chromedp.ID("confirm-cancel")))
	waitFor(t, ctx, "the dialog closed", `!document.getElementById('confirm').open`)
	if got := desired(); got != 7 {
		t.Fatalf("desired %d after a cancelled scale, want 7", got)
	}
}

// Draining an instance from its row: confirmed, sent with the token kept
// in the tab, and the row shows the drain.
func TestDrainAnInstance(t *testing.T) {
	e := sharedEbb(t)
	ctx := tab(t)
	do(t, ctx, chromedp.Navigate(e.URL+"/#/group/web"))
	waitFor(t, ctx, "an instance in service", `document.querySelector('#instances tr[data-instance] .badge.state-in_service') !== null`)
	eval[bool](t, ctx, `sessionStorage.setItem('ebb.token', `+strconv.Quote(e.Token)+`) || true`)
	do(t, ctx, chromedp.Reload()) // the page reads the token as it loads
	waitFor(t, ctx, "an instance in service", `document.querySelector('#instances tr[data-instance] .badge.state-in_service') !== null`)
	id := eval[string](t, ctx, `document.querySelector('#instances .badge.state-in_service').closest('tr').dataset.instance`)
	row := `#instances tr[data-instance="` + id + `"]`
	do(t, ctx, chromedp.Click(chromedp.CSS(row+` button.drain`)))
	waitFor(t, ctx, "the confirmation", `document.getElementById('confirm').open && document.getElementById('confirm-text').textContent.startsWith('Drain `+id+` of web')`)
	do(t, ctx, chromedp.Click(chromedp.ID("confirm-ok")))
	waitFor(t, ctx, "success", `document.getElementById('notice').textContent.startsWith('Done: Drain `+id+`')`)
	waitFor(t, ctx, "the drain in its row", `(() => {
		const r = document.querySelector('`+row+`');
		return !r || r.querySelector('.badge').textContent !== 'in_service';
	})()`)
	waitFor(t, ctx, "the operator log", `document.getElementById('operator').textContent.includes('drain')`)
}

// renamed shows the daemon's signal "queue" under a hostile name: ebb's
// config refuses such names, so this is how a test gets one to the page.
type renamed struct{ *daemon.Daemon }

func (r renamed) Overview(q daemon.OverviewQuery) (daemon.OverviewPage, error) {
	p, err := r.Daemon.Overview(q)
	for i := range p.Rows {
		for j := range p.Rows[i].Signals {
			if p.Rows[i].Signals[j].Name == "queue" {
				p.Rows[i].Signals[j].Name = hostile
			}
		}
	}
	return p, err
}

func (r renamed) History(group string, since time.Time) (daemon.History, error) {
	h, err := r.Daemon.History(group, since)
	for i := range h.Signals {
		if h.Signals[i].Name == "queue" {
			h.Signals[i].Name = hostile
		}
	}
	return h, err
}

// Text from outside ebb is shown as text: no element is made of it and no
// script runs.
func TestHostileTextRendersAsText(t *testing.T) {
	e := sharedEbb(t)
	ctx := tab(t)
	dialogs := watchDialogs(ctx)
	noImage := `document.querySelectorAll('img').length === 0`

	// A command's output quoted in a failing read's condition (real: the
	// feed group's signal runs echo).
	do(t, ctx, chromedp.Navigate(e.URL+"/#/?filter=feed"))
	waitFor(t, ctx, "the condition quoting the output", `(() => {
		const c = document.querySelector('tr[data-group="feed"] .cond-text');
		return c && c.textContent.includes(`+strconv.Quote(hostile)+`);
	})()`)
	do(t, ctx, chromedp.Navigate(e.URL+"/#/group/feed"))
	waitFor(t, ctx, "the condition on the group page", `document.getElementById('group-conditions').textContent.includes(`+strconv.Quote(hostile)+`)`)
	if !eval[bool](t, ctx, noImage) {
		t.Error("the page made an <img> of a condition")
	}

	// A signal named with markup, in the overview and on the charts.
	srv := serve(t, server.Handler(renamed{e.d}))
	do(t, ctx, chromedp.Navigate(srv.URL+"/#/?filter=batch-006"))
	waitFor(t, ctx, "the signal's name as text", `[...document.querySelectorAll('.sig-name')].some((s) => s.textContent === `+strconv.Quote(hostile)+`)`)
	do(t, ctx, chromedp.Navigate(srv.URL+"/#/group/batch-006"))
	waitFor(t, ctx, "the chart's title as text", `[...document.querySelectorAll('#chart-signals .u-title')].some((s) => s.textContent === `+strconv.Quote(hostile)+`)`)
	waitFor(t, ctx, "the chart's legend as text", `document.querySelector('#chart-signals .u-legend').textContent.includes(`+strconv.Quote(hostile)+`)`)
	if !eval[bool](t, ctx, noImage) {
		t.Error("the page made an <img> of a signal's name")
	}
	if got := dialogs(); len(got) > 0 {
		t.Errorf("script ran: dialogs %q", got)
	}
}

// The page's first screen with a thousand groups comes from one request
// and is paged; how fast it draws is BenchmarkOverviewFirstPage's.
func TestOverviewPagesAThousandGroups(t *testing.T) {
	ctx := tab(t)
	srv := serve(t, server.Handler(thousand(t)))
	do(t, ctx, chromedp.Navigate(srv.URL+"/"))
	waitFor(t, ctx, "the first page", rowCount(100))
	requests := eval[float64](t, ctx, `performance.getEntriesByType('resource').filter((r) => r.name.includes('/v1/overview')).length`)
	if requests != 1 {
		t.Errorf("%v overview requests, want 1", requests)
	}
	waitFor(t, ctx, "the pager", `document.getElementById('page-info').textContent === '1–100 of 1000 · page 1 of 10'`)
	do(t, ctx, chromedp.Click(chromedp.ID("next")))
	waitFor(t, ctx, "page 2", `document.getElementById('page-info').textContent.startsWith('101–200')`)
}

// screenshotDir is where screenshots go: $EBB_SCREENSHOTS, relative to
// the repository's root (docs/dashboard), or nowhere when it is not set.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("EBB_SCREENSHOTS")
	if dir == "" || filepath.IsAbs(dir) {
		return dir
	}
	return filepath.Join("..", "..", dir) // this package is internal/dashboard
}

// The screenshots docs/dashboard.md shows, after a short load ramp on web.
// They are taken every run (so taking them keeps working) and written when
// EBB_SCREENSHOTS names a directory.
func TestScreenshots(t *testing.T) {
	e := sharedEbb(t)
	api := e.API
	ramp := []struct{ queue, cpu float64 }{{10, 0.35}, {25, 0.5}, {48, 0.82}, {61, 0.9}, {44, 0.7}, {22, 0.45}, {14, 0.4}}
	for _, v := range ramp {
		if err := api.Push(context.Background(), "web", time.Time{}, map[string]float64{"queue": v.queue, "cpu": v.cpu}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "web decided with the pushed value", 15*time.Second, func() bool {
			var d struct {
				Inputs []struct {
					Name  string
					Value float64
				}
			}
			if api.Explain(context.Background(), "web", &d) != nil {
				return false
			}
			for _, in := range d.Inputs {
				if in.Name == "queue" && in.Value == v.queue {
					return true
				}
			}
			return false
		})
	}
	// Values for most batch groups (not 003–006, which other tests use),
	// so the overview shows groups of several sizes.
	for i := range batchGroups {
		if (i >= 3 && i <= 6) || i%7 == 1 {
			continue // 1, 8, 15, …: left without a value, a condition
		}
		q := float64((i * 37) % 90)
		if err := api.Push(context.Background(), fmt.Sprintf("batch-%03d", i), time.Time{}, map[string]float64{"queue": q}); err != nil {
			t.Fatal(err)
		}
	}

	dir := screenshotDir(t)
	// whole is the full page; otherwise the screen as the browser shows it.
	shoot := func(ctx context.Context, name string, whole bool) {
		t.Helper()
		shot := chromedp.CaptureScreenshot()
		if whole {
			shot = chromedp.FullScreenshot(100)
		}
		png, err := chromedp.Run(ctx, shot)
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if dir == "" {
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", filepath.Join(dir, name))
	}

	ctx := tab(t)
	do(t, ctx, chromedp.EmulateViewport(1280, 860))
	do(t, ctx, chromedp.Navigate(e.URL+"/#/?sort=-ready")) // web, with instances, first
	waitFor(t, ctx, "the overview", rowCount(batchGroups+2)+` && document.getElementById('live').textContent === 'live'`)
	waitFor(t, ctx, "the pushed values", `document.querySelector('tr[data-group="batch-011"] .sig-value').textContent !== 'missing'`)
	shoot(ctx, "overview.png", false)

	do(t, ctx, chromedp.Navigate(e.URL+"/#/group/web"))
	waitFor(t, ctx, "web's page", `document.querySelectorAll('#chart-signals .uplot').length === 2 && document.querySelectorAll('#instances tbody tr[data-instance]').length > 0`)
	do(t, ctx, chromedp.Click(chromedp.CSS(`#journal details.decision summary`)))
	waitFor(t, ctx, "the explanation", `document.querySelector('#journal .explanation').checkVisibility()`)
	shoot(ctx, "group.png", true)

	phone := tab(t)
	do(t, phone, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	do(t, phone, chromedp.Navigate(e.URL+"/#/?sort=-desired"))
	waitFor(t, phone, "the overview", rowCount(batchGroups+2))
	if w := eval[float64](t, phone, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("the page is %v px wide on a 390 px screen", w)
	}
	shoot(phone, "overview-phone.png", false)
	do(t, phone, chromedp.Navigate(e.URL+"/#/group/web"))
	waitFor(t, phone, "web's page", `document.querySelectorAll('#chart-signals .uplot').length === 2`)
	if w := eval[float64](t, phone, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("the group page is %v px wide on a 390 px screen", w)
	}
}

// BenchmarkOverviewFirstPage loads the page against 1,000 groups in a
// fresh tab and reports when its first 100 rows were drawn, in ms after
// navigation (the browser's own clock, performance.now()).
//
//	go test -run '^$' -bench BenchmarkOverviewFirstPage -benchtime 10x ./internal/dashboard/
func BenchmarkOverviewFirstPage(b *testing.B) {
	srv := serve(b, server.Handler(thousand(b)))
	total := 0.0
	for b.Loop() {
		ctx, done := tabFor(b)
		do(b, ctx, chromedp.Navigate(srv.URL+"/"))
		waitFor(b, ctx, "the first page", rowCount(100))
		total += eval[float64](b, ctx, `performance.now()`)
		done()
	}
	b.ReportMetric(total/float64(b.N), "ms-to-first-page")
}
