package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// checkNames checks the member names of the JSON object in data against
// the JSON names of the struct v points to: each must be exactly one of
// them (names are case-sensitive) and appear at most once. Go's decoder
// alone would match names case-insensitively and keep the last of two
// duplicates, so one document could mean different things to different
// implementations. Syntax errors are left to the decoder, which reports
// them; checkNames then returns nil. A member that holds bytes must be
// base64 exactly as SPEC.md §0 says (checkBase64). Names in unknown are
// refused as unknown although v has them: members of a later version.
func checkNames(data []byte, v any, unknown ...string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	names := jsonNames(reflect.TypeOf(v).Elem())
	byteNames := jsonByteNames(reflect.TypeOf(v).Elem())
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
		if !names[name] || slices.Contains(unknown, name) {
			return fmt.Errorf("unknown field %q", truncateName(name))
		}
		if seen[name] {
			return fmt.Errorf("duplicate field %q", name)
		}
		seen[name] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil
		}
		if byteNames[name] {
			if err := checkBase64(name, value); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkBase64 refuses what Go's decoder would otherwise accept in a byte
// member: line breaks, which it skips, and non-zero bits after the last
// byte, which it ignores. Both give one byte string several encodings.
// Values that are not strings are left to the decoder.
func checkBase64(name string, value json.RawMessage) error {
	var s string
	if json.Unmarshal(value, &s) != nil {
		return nil
	}
	if _, err := base64.StdEncoding.Strict().DecodeString(s); err != nil || strings.ContainsAny(s, "\r\n") {
		return fmt.Errorf("member %q: base64 must use the standard alphabet with padding, no line breaks and zero trailing bits", name)
	}
	return nil
}

func truncateName(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

var (
	namesCache     sync.Map // reflect.Type → map[string]bool
	byteNamesCache sync.Map // reflect.Type → map[string]bool
)

// jsonByteNames returns the JSON member names of a struct type whose
// fields are byte slices (base64 on the wire).
func jsonByteNames(t reflect.Type) map[string]bool {
	if m, ok := byteNamesCache.Load(t); ok {
		return m.(map[string]bool)
	}
	m := make(map[string]bool)
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() || f.Type.Kind() != reflect.Slice || f.Type.Elem().Kind() != reflect.Uint8 || f.Type == reflect.TypeOf(json.RawMessage(nil)) {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = true
	}
	byteNamesCache.Store(t, m)
	return m
}

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
