package store

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// bucketRegistry holds the service registry's registrations:
//
//	registry/APP\x00ID → the registration (JSON, as the registry encodes it)
var bucketRegistry = []byte("registry")

func registrationKey(app, id string) ([]byte, error) {
	if app == "" || id == "" || bytes.IndexByte([]byte(app), pathSep) >= 0 {
		return nil, fmt.Errorf("registration %q/%q: app and id must be non-empty, the app without NUL", app, id)
	}
	return append(append([]byte(app), pathSep), id...), nil
}

// PutRegistration keeps one registration of the service registry.
func (tx *Tx) PutRegistration(app, id string, v json.RawMessage) error {
	k, err := registrationKey(app, id)
	if err != nil {
		return err
	}
	if err := tx.root(bucketRegistry).Put(k, v); err != nil {
		return fmt.Errorf("put registration %s/%s: %w", app, id, err)
	}
	return nil
}

// DeleteRegistration forgets one registration; an unknown one is no error.
func (tx *Tx) DeleteRegistration(app, id string) error {
	k, err := registrationKey(app, id)
	if err != nil {
		return err
	}
	if err := tx.root(bucketRegistry).Delete(k); err != nil {
		return fmt.Errorf("delete registration %s/%s: %w", app, id, err)
	}
	return nil
}

// Registrations returns every registration kept, by app and id.
func (tx *Tx) Registrations() ([]json.RawMessage, error) {
	b := tx.root(bucketRegistry)
	if b == nil {
		return nil, nil
	}
	var out []json.RawMessage
	err := b.ForEach(func(_, v []byte) error {
		out = append(out, bytes.Clone(v))
		return nil
	})
	return out, err
}
