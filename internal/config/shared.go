package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// The types below are the vocabulary source (and provider) packages build
// their own typed configs from: call limits, secrets, TLS and basic auth.
// They are decoded, defaulted and documented like every other config type.

// Calls bounds the calls a source makes to its backend. Source kinds embed it
// inline in their connection config.
type Calls struct {
	Timeout     Duration `yaml:"timeout" default:"5s" doc:"How long one call to the backend may take."`
	Tries       int      `yaml:"tries" default:"3" doc:"Attempts of a call that fails transiently (timeout, refused connection, 5xx, 429), with exponential backoff and full jitter between them, all within the shortest interval of the groups the source serves."`
	Concurrency int      `yaml:"concurrency" default:"4" doc:"Calls to this backend in flight at once, over all groups."`
}

// CallLimits returns the limits; source kinds' configs get it by embedding.
func (c *Calls) CallLimits() Calls { return *c }

// Validate checks the limits.
func (c *Calls) Validate() error {
	var errs []error
	if c.Timeout.D() <= 0 {
		errs = append(errs, Problem("timeout", "must be > 0, not %s", c.Timeout))
	}
	if c.Tries < 1 || c.Tries > 10 {
		errs = append(errs, Problem("tries", "must be 1 to 10, not %d", c.Tries))
	}
	if c.Concurrency < 1 || c.Concurrency > 256 {
		errs = append(errs, Problem("concurrency", "must be 1 to 256, not %d", c.Concurrency))
	}
	return errors.Join(errs...)
}

// KeyError is a problem with one key of a plugged-in config (a source's or a
// provider's), named relative to that config: "query", "tls.ca_file". The
// decoder turns it into an *Error with the key's full path and position.
type KeyError struct {
	Key string
	Msg string
}

func (e *KeyError) Error() string {
	if e.Key == "" {
		return e.Msg
	}
	return e.Key + ": " + e.Msg
}

// Problem returns a *KeyError for key; a plugged-in config's Validate
// returns them, joined with errors.Join, so every problem is reported at
// once with its position.
func Problem(key, format string, args ...any) error {
	return &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Under prefixes the keys of the problems in err with key: a config that
// validates a nested part names where that part is.
func Under(key string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range flatten(err) {
		var ke *KeyError
		if errors.As(e, &ke) {
			k := key
			if ke.Key != "" {
				k += "." + ke.Key
			}
			out = append(out, &KeyError{Key: k, Msg: ke.Msg})
			continue
		}
		out = append(out, &KeyError{Key: key, Msg: e.Error()})
	}
	return errors.Join(out...)
}

// flatten lists the errors joined in err.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// Secret is a value ebb must not show: a password, a token, a header value.
// It comes from an environment variable or a file (read at each use, so a
// rotated file is picked up), or, for values that are not secret (a user
// name in a header), inline. Its String names where it comes from, never
// the value.
type Secret struct {
	Value string `yaml:"value" doc:"The value itself; for what is not secret (a user name). Exactly one of value, env and file."`
	Env   string `yaml:"env" doc:"The environment variable (of ebb's process) holding the value."`
	File  string `yaml:"file" doc:"The file holding the value; surrounding whitespace is trimmed."`
}

// IsSet reports whether any of the keys is written.
func (s *Secret) IsSet() bool { return s != nil && (s.Value != "" || s.Env != "" || s.File != "") }

// Validate checks that exactly one origin is given.
func (s *Secret) Validate() error {
	n := 0
	for _, v := range []string{s.Value, s.Env, s.File} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return Problem("", "exactly one of value, env and file, not %d", n)
	}
	return nil
}

// Reveal returns the value.
func (s *Secret) Reveal() (string, error) {
	switch {
	case s == nil:
		return "", nil
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", s.Env)
		}
		return v, nil
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("read secret: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return s.Value, nil
}

// String names the secret's origin, never its value.
func (s Secret) String() string {
	switch {
	case s.Env != "":
		return "env:" + s.Env
	case s.File != "":
		return "file:" + s.File
	case s.Value != "":
		return "(inline)"
	}
	return "(none)"
}

// MarshalJSON shows the origin only, so a config echoed by the API or a log
// never carries the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(fmt.Sprintf("%q", s.String())), nil }

// BasicAuth is an HTTP user and password.
type BasicAuth struct {
	Username string `yaml:"username" doc:"The user. Required."`
	Password Secret `yaml:"password" doc:"The password, from env or a file. Required."`
}

// Validate checks both are given.
func (b *BasicAuth) Validate() error {
	var errs []error
	if b.Username == "" {
		errs = append(errs, Problem("username", "required"))
	}
	errs = append(errs, Under("password", b.Password.Validate()))
	return errors.Join(errs...)
}

// TLS configures a client's TLS connections.
type TLS struct {
	CAFile             string `yaml:"ca_file" doc:"PEM file of the authorities that sign the server's certificate; the system's when empty."`
	CertFile           string `yaml:"cert_file" doc:"Client certificate (PEM) for mutual TLS, with key_file."`
	KeyFile            string `yaml:"key_file" doc:"The client certificate's private key (PEM)."`
	ServerName         string `yaml:"server_name" doc:"The name the server's certificate must carry, when not the host dialled."`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify" default:"false" doc:"Accept any server certificate. For tests only: it allows a man in the middle."`
}

// Validate checks the files go together.
func (t *TLS) Validate() error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return Problem("cert_file", "cert_file and key_file go together")
	}
	return nil
}

// Config loads the files into a *tls.Config; nil when t is nil.
func (t *TLS) Config() (*tls.Config, error) {
	if t == nil {
		return nil, nil
	}
	c := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read tls.ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file %s holds no PEM certificate", t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load tls.cert_file and key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Problems lists the problems in err — what a plugged-in config's Validate
// returns — as "key: message" (the message alone for one about the whole
// config), sorted: the form a kind's tests compare.
func Problems(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	for _, e := range flatten(err) {
		var ke *KeyError
		if errors.As(e, &ke) {
			out = append(out, ke.Error())
			continue
		}
		out = append(out, e.Error())
	}
	slices.Sort(out)
	return out
}
