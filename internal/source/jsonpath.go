package source

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// Lookup returns the value at a dot-separated path in a JSON document; list
// elements are addressed by index ("workers.0.busy").
func Lookup(doc []byte, path string) (any, error) {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if path == "" {
		return v, nil
	}
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			next, ok := x[k]
			if !ok {
				return nil, fmt.Errorf("no %q in the answer", path)
			}
			v = next
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil, fmt.Errorf("no %q in the answer", path)
			}
			v = x[i]
		default:
			return nil, fmt.Errorf("no %q in the answer", path)
		}
	}
	return v, nil
}

// Number reads a JSON value as a number: numbers as they are, booleans as 0
// or 1, numeric strings parsed.
func Number(v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case bool:
		if x {
			f = 1
		}
	case string:
		var err error
		if f, err = strconv.ParseFloat(x, 64); err != nil {
			return 0, fmt.Errorf("%q is not a number", x)
		}
	default:
		return 0, fmt.Errorf("value is %T, not a number", v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("value %v is not a finite number", f)
	}
	return f, nil
}

// JSONNumber fetches url and reads the number at path.
func JSONNumber(ctx context.Context, client *http.Client, url, path string) (float64, error) {
	body, err := get(ctx, client, url)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	doc, err := io.ReadAll(io.LimitReader(body, maxBody))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", url, err)
	}
	v, err := Lookup(doc, path)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", url, err)
	}
	f, err := Number(v)
	if err != nil {
		return 0, fmt.Errorf("%s at %q: %w", url, path, err)
	}
	return f, nil
}
