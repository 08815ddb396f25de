package config

import (
	"errors"
	"fmt"
	"reflect"
)

// Decode decodes a YAML document into v, a pointer to a struct of tagged
// fields, as Parse decodes a config: strictly (unknown keys, duplicate
// keys and values of the wrong type are errors), absent keys at their
// defaults. Then, if v has a Validate() error method, its Problem errors
// are placed at their keys. filename only labels errors. When anything is
// wrong Decode returns an *Errors holding every problem found, each with
// its position and path, and v must not be used.
func Decode(filename string, data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("decode %s: %T is not a pointer to a struct", filename, v)
	}
	root, perr := parseYAML(filename, data)
	if perr != nil {
		return newErrors([]*Error{perr})
	}
	d := newDecoder(filename, root)
	d.decode(nil, root, rv.Elem(), "")
	if len(d.errs) > 0 {
		return newErrors(d.errs)
	}
	val, ok := v.(interface{ Validate() error })
	if !ok {
		return nil
	}
	err := val.Validate()
	if err == nil {
		return nil
	}
	vd := &validator{file: filename, pos: d.pos}
	for _, e := range flatten(err) {
		var ke *KeyError
		if errors.As(e, &ke) {
			vd.errf(joinKeys("", ke.Key), "%s", ke.Msg)
			continue
		}
		vd.errf("", "%s", e.Error())
	}
	return newErrors(vd.errs)
}
