package config

import (
	"errors"
	"strings"
	"testing"
)

// Two source kinds standing in for the real ones, which live in packages
// that import this one.

type fetchConn struct {
	Calls   `yaml:",inline"`
	Headers map[string]Secret `yaml:"headers" doc:"Headers sent."`
}

func (c *fetchConn) Validate() error {
	errs := []error{c.Calls.Validate()}
	for k, s := range c.Headers {
		errs = append(errs, Under("headers."+k, s.Validate()))
	}
	return errors.Join(errs...)
}

type fetchQuery struct {
	URL  string `yaml:"url" doc:"URL template. Required."`
	Path string `yaml:"path" doc:"Where the number is. Required."`
}

func (q *fetchQuery) Validate() error {
	var errs []error
	if _, err := ParseTemplate("url", q.URL); err != nil {
		errs = append(errs, Problem("url", "%v", err))
	}
	if q.URL == "" {
		errs = append(errs, Problem("url", "required"))
	}
	if q.Path == "" {
		errs = append(errs, Problem("path", "required"))
	}
	if q.URL == "whole" {
		errs = append(errs, Problem("", "a problem with the whole query"))
	}
	return errors.Join(errs...)
}

type dbConn struct {
	Calls    `yaml:",inline"`
	Addr     string  `yaml:"addr" doc:"host:port. Required."`
	Password *Secret `yaml:"password" doc:"The password."`
	TLS      *TLS    `yaml:"tls" doc:"TLS."`
}

func (c *dbConn) Validate() error {
	errs := []error{c.Calls.Validate()}
	if c.Addr == "" {
		errs = append(errs, Problem("addr", "required"))
	}
	if c.Password != nil {
		errs = append(errs, Under("password", c.Password.Validate()))
	}
	if c.TLS != nil {
		errs = append(errs, Under("tls", c.TLS.Validate()))
	}
	return errors.Join(errs...)
}

type dbQuery struct {
	Table string `yaml:"table" doc:"The table counted. Required."`
}

var testKinds = &Kinds{Sources: []Kind{
	{Name: "fetch", Doc: "Reads a number from a URL.", Conn: new(fetchConn), Query: new(fetchQuery), Standalone: true},
	{Name: "db", Doc: "Counts rows.", Conn: new(dbConn), Query: new(dbQuery)},
}}

func TestKindsDecode(t *testing.T) {
	f, err := testKinds.Parse("ebb.yaml", []byte(`sources:
  main: {db: {addr: "127.0.0.1:5432", password: {env: DB_PASSWORD}, timeout: 2s}}
groups:
  - name: web
    capacity: {max: 4}
    signals:
      rows: {source: main, db: {table: jobs}}
      load: {fetch: {url: "http://{{.Group}}/stats", path: load}}
    policies: [{queue: {signal: rows, per_instance: 10}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	conn, ok := f.Sources["main"].Config.(*dbConn)
	if !ok || f.Sources["main"].Kind != "db" {
		t.Fatalf("sources.main = %#v", f.Sources["main"])
	}
	if conn.Addr != "127.0.0.1:5432" || conn.Timeout.D().String() != "2s" || conn.Tries != 3 || conn.Concurrency != 4 {
		t.Errorf("conn = %+v, want the address, timeout 2s and the defaults", conn)
	}
	if conn.Password.String() != "env:DB_PASSWORD" {
		t.Errorf("password = %s", conn.Password)
	}
	rows := f.Groups[0].Signals["rows"]
	if q, ok := rows.Read.Config.(*dbQuery); !ok || rows.Read.Kind != "db" || q.Table != "jobs" || rows.Source != "main" {
		t.Errorf("rows = %+v", rows)
	}
	if q, ok := f.Groups[0].Signals["load"].Read.Config.(*fetchQuery); !ok || q.Path != "load" {
		t.Errorf("load = %+v", f.Groups[0].Signals["load"])
	}
}

func TestKindsErrors(t *testing.T) {
	src := `sources:
  main: {db: {addr: "", tries: 0, password: {env: A, file: B}, tls: {cert_file: c}}}
  other: {db: {addr: x}, fetch: {}}
  bad: {nosuch: {}}
  push: {db: {addr: x}}
  empty: {}
groups:
  - name: web
    capacity: {max: 4}
    signals:
      a: {source: main}
      b: {source: main, fetch: {url: u, path: p}}
      c: {db: {table: t}}
      d: {source: nope, db: {table: t}}
      e: {fetch: {url: "{{.Nope}}"}, db: {table: t}}
      f: {source: push, fetch: {url: u, path: p}}
      g: {expr: "1", fetch: {url: u, path: p}}
      h: {fetsh: {}}
      i: {source: main, db: {table: t, extra: 1}}
      j: {fetch: {url: whole, path: p}}
    policies: [{queue: {signal: a, per_instance: 10}}]
`
	_, err := testKinds.Parse("ebb.yaml", []byte(src))
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	got := err.Error()
	for _, want := range []string{
		`ebb.yaml:2:21: sources.main.db.addr: required`,
		`ebb.yaml:2:32: sources.main.db.tries: must be 1 to 10, not 0`,
		`sources.main.db.password: exactly one of value, env and file, not 2`,
		`sources.main.db.tls.cert_file: cert_file and key_file go together`,
		`ebb.yaml:3:10: sources.other: must have exactly one key naming the source's kind (fetch, db), not 2`,
		`ebb.yaml:4:9: sources.bad: unknown source kind "nosuch" (kinds: fetch, db)`,
		`ebb.yaml:5:3: sources.push: push is the name of pushed values; choose another`,
		`ebb.yaml:6:10: sources.empty: must have exactly one key naming the source's kind (fetch, db), not 0`,
		`ebb.yaml:11:19: groups[0].signals.a.source: main is a db source: say what to read under a db key`,
		`groups[0].signals.b.fetch: source main is a db source, not fetch`,
		`groups[0].signals.c.db: a db signal reads through a named source: add source: NAME and a db source under sources`,
		`ebb.yaml:14:19: groups[0].signals.d.source: unknown source "nope" (defined: push, bad, empty, main, other)`,
		`groups[0].signals.e.db: one source kind here; fetch is already set`,
		`groups[0].signals.e.fetch.url: `,
		`groups[0].signals.e.fetch.path: required`,
		`groups[0].signals.f.fetch: a pushed signal reads nothing: drop source: push or the fetch key`,
		`groups[0].signals.g: a derived signal (expr) takes no source`,
		`groups[0].signals.h: unknown key "fetsh"; did you mean "fetch"?`,
		`groups[0].signals.i.db: unknown key "extra" (valid keys: table)`,
		`ebb.yaml:20:11: groups[0].signals.j.fetch: a problem with the whole query`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

func TestKindsWithoutRegistry(t *testing.T) {
	_, err := Parse("ebb.yaml", []byte(`groups:
  - name: web
    capacity: {max: 4}
    signals: {q: {fetch: {url: u, path: p}}}
    policies: [{queue: {signal: q, per_instance: 10}}]
`))
	if err == nil || !strings.Contains(err.Error(), `unknown key "fetch"`) {
		t.Errorf("err = %v, want fetch unknown where no kinds are plugged in", err)
	}
}

func TestKindsSchemaAndReference(t *testing.T) {
	s, err := testKinds.Schema()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(s), `"fetch"`) || !strings.Contains(string(s), `#/$defs/fetchQuery`) {
		t.Errorf("schema lacks the fetch kind:\n%s", s)
	}
	ref := testKinds.Reference()
	for _, want := range []string{"### `sources.NAME.db`", "`sources.NAME.db.addr`", "### `groups[].signals.NAME.fetch`", "`groups[].signals.NAME.fetch.path`"} {
		if !strings.Contains(ref, want) {
			t.Errorf("reference lacks %q:\n%s", want, ref)
		}
	}
}

type capConfig struct {
	Target string `yaml:"target" default:"'{{.Group}}'" doc:"What to scale."`
	Zones  int    `yaml:"zones" default:"1" doc:"How many zones."`
}

func (c *capConfig) Validate() error {
	if c.Zones < 1 {
		return Problem("zones", "must be ≥ 1")
	}
	return nil
}

var providerKinds = &Kinds{Sources: testKinds.Sources, Providers: []Kind{
	{Name: "cap", Doc: "A capacity provider.", Conn: new(capConfig)},
}}

func TestProviderKinds(t *testing.T) {
	group := func(provider string) []byte {
		return []byte(`groups:
  - name: web
    capacity: {max: 4}
    signals: {q: {}}
    policies: [{queue: {signal: q, per_instance: 10}}]
    provider: ` + provider + "\n")
	}
	f, err := providerKinds.Parse("ebb.yaml", group("{cap: {zones: 2}}"))
	if err != nil {
		t.Fatal(err)
	}
	p := f.Groups[0].Provider
	if c, ok := p.Kind.Config.(*capConfig); !ok || p.Kind.Kind != "cap" || c.Zones != 2 || c.Target != "{{.Group}}" || p.Local != nil {
		t.Fatalf("provider = %+v (%+v)", p, p.Kind.Config)
	}
	for _, tt := range []struct{ provider, want string }{
		{"{cap: {zones: 0}}", "ebb.yaml:6:29: groups[0].provider.cap.zones: must be ≥ 1"},
		{"{cap: {}, local: {command: [x]}}", "groups[0].provider.cap: one provider: local or cap, not both"},
		{"{kap: {}}", `groups[0].provider: unknown key "kap"; did you mean "cap"?`},
		{"{cap: {nope: 1}}", `groups[0].provider.cap: unknown key "nope" (valid keys: target, zones)`},
		{"{cap: {}}\n    lifecycle: {drain: {signal: SIGTERM}}", "groups[0].lifecycle.drain.signal: a cap group's instances are not ebb's processes and cannot be signalled"},
	} {
		_, err := providerKinds.Parse("ebb.yaml", group(tt.provider))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("provider %s: err = %v; want %q", tt.provider, err, tt.want)
		}
	}
	if ref := providerKinds.ProviderReference(); !strings.Contains(ref, "`groups[].provider.cap.zones`") {
		t.Errorf("provider reference:\n%s", ref)
	}
	if s, _ := providerKinds.Schema(); !strings.Contains(string(s), `#/$defs/capConfig`) {
		t.Errorf("schema lacks the cap provider")
	}
}
