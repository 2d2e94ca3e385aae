package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// display returns a value from the database (a username, an email, an op
// name a client sent) fit for an admin's terminal: as it is when every
// character is printable, else Go-quoted, which escapes C0 and C1
// controls, DEL and the format characters (bidirectional overrides,
// zero-width characters). Every value the admin commands print in text
// goes through it or through plain, which quotes the same way.
func display(s string) string {
	for _, r := range s {
		if !strconv.IsPrint(r) || r == '\\' || r == '"' {
			return strconv.Quote(s)
		}
	}
	return s
}

// writeJSON writes v as one JSON document (indented when indent is set)
// and a newline, with the characters encoding/json leaves raw but a
// terminal obeys (C1 controls, DEL, bidirectional and invisible format
// characters) written as \uXXXX: the same value, safe to print.
func writeJSON(w io.Writer, v any, indent bool) error {
	var b []byte
	var err error
	if indent {
		b, err = json.MarshalIndent(v, "", "  ")
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return err
	}
	var out strings.Builder
	for _, r := range string(b) {
		if r == 0x7f || (r >= 0x80 && r <= 0x9f) || (r > 0x9f && !strconv.IsPrint(r) && r != ' ') {
			fmt.Fprintf(&out, `\u%04x`, r)
			continue
		}
		out.WriteRune(r)
	}
	out.WriteByte('\n')
	_, err = io.WriteString(w, out.String())
	return err
}
