package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// checkNames checks the member names of the JSON object in data against
// the JSON names of the struct v points to: each must be exactly one of
// them (names are case-sensitive) and appear at most once. Go's decoder
// alone would match names case-insensitively and keep the last of two
// duplicates, so one document could mean different things to different
// implementations. Syntax errors are left to the decoder, which reports
// them; checkNames then returns nil.
func checkNames(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	names := jsonNames(reflect.TypeOf(v).Elem())
	seen := make(map[string]bool, len(names))
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		name, ok := t.(string)
		if !ok {
			return nil
		}
		if !names[name] {
			return fmt.Errorf("unknown field %q", truncateName(name))
		}
		if seen[name] {
			return fmt.Errorf("duplicate field %q", name)
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}

func truncateName(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

var namesCache sync.Map // reflect.Type → map[string]bool

// jsonNames returns the JSON member names of a struct type.
func jsonNames(t reflect.Type) map[string]bool {
	if m, ok := namesCache.Load(t); ok {
		return m.(map[string]bool)
	}
	m := make(map[string]bool)
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = true
	}
	namesCache.Store(t, m)
	return m
}
