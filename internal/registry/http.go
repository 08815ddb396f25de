package registry

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/ebb-autoscaler/ebb/internal/clock"
)

// DefaultPrefix is where Eureka clients expect the API.
const DefaultPrefix = "/eureka"

// maxBody bounds a registration body; real ones are a few kilobytes.
const maxBody = 1 << 20

// NewHandler serves Eureka's REST API (v2, as Eureka clients speak it) for
// reg under prefix (DefaultPrefix when empty), reading the time from clk:
//
//	POST   /apps/{app}                  register ({"instance": …} or <instance>…): 204
//	PUT    /apps/{app}/{id}             renew: 200, 404 when the client must register
//	DELETE /apps/{app}/{id}             cancel: 200, 404
//	PUT    /apps/{app}/{id}/status?value=S    set a status override: 200
//	DELETE /apps/{app}/{id}/status[?value=S]  remove it: 200
//	PUT    /apps/{app}/{id}/metadata?k=v…     add metadata: 200
//	GET    /apps, /apps/delta, /apps/{app}, /apps/{app}/{id},
//	       /instances/{id}, /vips/{vip}, /svips/{svip}
//
// Responses are JSON when the Accept header asks for JSON before XML, and
// XML otherwise, as Eureka defaults. Bad input is a 400 with the reason in
// a plain-text body, and changes nothing.
func NewHandler(reg *Registry, clk clock.Clock, prefix string) http.Handler {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	prefix = "/" + strings.Trim(prefix, "/")
	if prefix == "/" {
		prefix = ""
	}
	h := &handler{reg: reg, clk: clk}
	mux := http.NewServeMux()
	route := func(method, path string, fn http.HandlerFunc) { mux.HandleFunc(method+" "+prefix+path, fn) }
	route("POST", "/apps/{app}", h.register)
	route("PUT", "/apps/{app}/{id}", h.renew)
	route("DELETE", "/apps/{app}/{id}", h.cancel)
	route("PUT", "/apps/{app}/{id}/status", h.setStatus)
	route("DELETE", "/apps/{app}/{id}/status", h.deleteStatus)
	route("PUT", "/apps/{app}/{id}/metadata", h.metadata)
	route("GET", "/apps", h.apps)
	route("GET", "/apps/delta", h.delta)
	route("GET", "/apps/{app}", h.app)
	route("GET", "/apps/{app}/{id}", h.instance)
	route("GET", "/instances/{id}", h.instanceByID)
	route("GET", "/vips/{vip}", h.vip)
	route("GET", "/svips/{vip}", h.svip)
	return mux
}

type handler struct {
	reg *Registry
	clk clock.Clock
}

// responseFormat picks JSON when Accept names JSON before any XML type.
func responseFormat(r *http.Request) format {
	accept := strings.ToLower(r.Header.Get("Accept"))
	j, x := strings.Index(accept, "json"), strings.Index(accept, "xml")
	if j >= 0 && (x < 0 || j < x) {
		return formatJSON
	}
	return formatXML
}

// bodyFormat reads Content-Type, and failing that the body's first byte.
func bodyFormat(r *http.Request, body []byte) format {
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	switch {
	case strings.Contains(ct, "json"):
		return formatJSON
	case strings.Contains(ct, "xml"):
		return formatXML
	}
	if t := strings.TrimSpace(string(body)); strings.HasPrefix(t, "<") {
		return formatXML
	}
	return formatJSON
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusBadRequest
	switch {
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrNotSaved):
		// Made, but not durable yet: a client retries a write it got no
		// 2xx for, and every write here may be repeated.
		code = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	}
	http.Error(w, err.Error(), code)
}

// saved makes a successful change durable before it is answered.
func (h *handler) saved(err error) error {
	if err != nil {
		return err
	}
	return h.reg.Save()
}

func write(w http.ResponseWriter, f format, body []byte, err error) {
	if err != nil {
		http.Error(w, fmt.Sprintf("encode response: %v", err), http.StatusInternalServerError)
		return
	}
	ct := "application/xml"
	if f == formatJSON {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	_, _ = w.Write(body)
}

func (h *handler) register(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, fmt.Sprintf("read body: %v", err), http.StatusBadRequest)
		return
	}
	in, err := decodeInstance(body, bodyFormat(r, body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if _, err := h.reg.Register(h.clk.Now(), r.PathValue("app"), in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest) // Register reports only invalid input
		return
	}
	if err := h.reg.Save(); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// dirtyTimestamp reads the optional lastDirtyTimestamp query parameter.
func dirtyTimestamp(r *http.Request) (int64, error) {
	s := r.URL.Query().Get("lastDirtyTimestamp")
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("lastDirtyTimestamp: %q is not a timestamp in milliseconds", s)
	}
	return v, nil
}

func (h *handler) renew(w http.ResponseWriter, r *http.Request) {
	dirty, err := dirtyTimestamp(r)
	if err != nil {
		writeError(w, err)
		return
	}
	// Eureka accepts status and overriddenstatus here but acts on them only
	// for replication between its servers; they are checked, not applied.
	for _, p := range []string{"status", "overriddenstatus"} {
		if v := r.URL.Query().Get(p); v != "" {
			if _, err := ParseStatus(v); err != nil {
				writeError(w, fmt.Errorf("%s: %w", p, err))
				return
			}
		}
	}
	req := RenewRequest{App: r.PathValue("app"), ID: r.PathValue("id"), LastDirtyTimestamp: dirty}
	done(w, h.reg.Renew(h.clk.Now(), req))
}

func (h *handler) cancel(w http.ResponseWriter, r *http.Request) {
	done(w, h.saved(h.reg.Cancel(h.clk.Now(), r.PathValue("app"), r.PathValue("id"))))
}

func (h *handler) statusRequest(r *http.Request) (StatusRequest, error) {
	dirty, err := dirtyTimestamp(r)
	req := StatusRequest{App: r.PathValue("app"), ID: r.PathValue("id"), LastDirtyTimestamp: dirty}
	if err != nil {
		return req, err
	}
	if v := r.URL.Query().Get("value"); v != "" {
		st, err := ParseStatus(v)
		if err != nil {
			return req, fmt.Errorf("value: %w", err)
		}
		req.Status = st
	}
	return req, nil
}

func (h *handler) setStatus(w http.ResponseWriter, r *http.Request) {
	req, err := h.statusRequest(r)
	if err == nil && req.Status == "" {
		err = errors.New("value: missing (want ?value=UP, DOWN, STARTING or OUT_OF_SERVICE)")
	}
	if err == nil {
		err = h.reg.SetStatusOverride(h.clk.Now(), req)
	}
	done(w, h.saved(err))
}

func (h *handler) deleteStatus(w http.ResponseWriter, r *http.Request) {
	req, err := h.statusRequest(r)
	if err == nil {
		err = h.reg.DeleteStatusOverride(h.clk.Now(), req)
	}
	done(w, h.saved(err))
}

func (h *handler) metadata(w http.ResponseWriter, r *http.Request) {
	kv := map[string]string{}
	for k, vs := range r.URL.Query() {
		kv[k] = vs[0]
	}
	done(w, h.saved(h.reg.UpdateMetadata(h.clk.Now(), r.PathValue("app"), r.PathValue("id"), kv)))
}

func (h *handler) apps(w http.ResponseWriter, r *http.Request) {
	f := responseFormat(r)
	b, err := encodeApplications(f, h.reg.Applications())
	write(w, f, b, err)
}

func (h *handler) delta(w http.ResponseWriter, r *http.Request) {
	f := responseFormat(r)
	b, err := encodeApplications(f, h.reg.Delta(h.clk.Now()))
	write(w, f, b, err)
}

func (h *handler) vip(w http.ResponseWriter, r *http.Request) {
	f := responseFormat(r)
	b, err := encodeApplications(f, h.reg.VIP(r.PathValue("vip"), false))
	write(w, f, b, err)
}

func (h *handler) svip(w http.ResponseWriter, r *http.Request) {
	f := responseFormat(r)
	b, err := encodeApplications(f, h.reg.VIP(r.PathValue("vip"), true))
	write(w, f, b, err)
}

func (h *handler) app(w http.ResponseWriter, r *http.Request) {
	app, err := h.reg.Application(r.PathValue("app"))
	if err != nil {
		writeError(w, err)
		return
	}
	f := responseFormat(r)
	b, err := encodeApplication(f, app)
	write(w, f, b, err)
}

func (h *handler) instance(w http.ResponseWriter, r *http.Request) {
	in, err := h.reg.Instance(r.PathValue("app"), r.PathValue("id"))
	serveInstance(w, r, in, err)
}

func (h *handler) instanceByID(w http.ResponseWriter, r *http.Request) {
	in, err := h.reg.InstanceByID(r.PathValue("id"))
	serveInstance(w, r, in, err)
}

// done answers a write: 200, or the error that refused it.
func done(w http.ResponseWriter, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// serveInstance answers with one instance, or the error of looking it up.
func serveInstance(w http.ResponseWriter, r *http.Request, in Instance, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	f := responseFormat(r)
	b, err := encodeInstance(f, in)
	write(w, f, b, err)
}
