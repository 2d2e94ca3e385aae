package client

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Printable returns s, from the server or another party, made safe to
// print on a terminal: C0 and C1 control characters, DEL, and the
// bidirectional and invisible format characters (U+061C, U+200B–U+200F,
// U+202A–U+202E, U+2066–U+2069, U+FEFF) are replaced by visible escapes
// (\x1b, \u202e, ...), and invalid UTF-8 bytes by \xNN, so that a string
// cannot move the cursor, retitle the window, write the clipboard or
// reorder what is shown. A backslash is doubled, so escapes cannot be
// forged. Every program printing server-supplied strings uses it.
func Printable(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += n
	}
	return b.String()
}

func isPlain(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\\' || r == utf8.RuneError || unsafeRune(r) {
			return false
		}
	}
	return true
}

// unsafeRune reports whether r is a C1 control or a bidirectional or
// invisible format character.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f,
		r == 0x061c,
		r >= 0x200b && r <= 0x200f,
		r >= 0x202a && r <= 0x202e,
		r >= 0x2066 && r <= 0x2069,
		r == 0xfeff:
		return true
	}
	return false
}

// EscapeJSON rewrites encoded JSON so that the characters Printable
// escapes and encoding/json leaves raw (C1 controls, DEL, bidirectional
// and invisible format characters) appear as \uXXXX escapes: the same
// value, safe to print. encoding/json already escapes C0 controls and
// invalid UTF-8.
func EscapeJSON(b []byte) []byte {
	s := string(b)
	if isPlainJSON(s) {
		return b
	}
	var out strings.Builder
	for _, r := range s {
		if r == 0x7f || unsafeRune(r) {
			fmt.Fprintf(&out, `\u%04x`, r)
			continue
		}
		out.WriteRune(r)
	}
	return []byte(out.String())
}

func isPlainJSON(s string) bool {
	for _, r := range s {
		if r == 0x7f || unsafeRune(r) {
			return false
		}
	}
	return true
}
