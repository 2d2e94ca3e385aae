package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/accountd/accountd/store"
)

// TestPrintAggregatedEvent: an aggregated row shows its count in both
// formats; a single decision shows none.
func TestPrintAggregatedEvent(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	events := []store.AuthEvent{
		{ID: 1, At: at, Type: store.EventTokenRejected, Reason: "authenticate", IP: "192.0.2.1"},
		{ID: 2, At: at, Type: store.EventTokenRejected, Reason: "authenticate", IP: "192.0.2.1", Count: 123},
	}
	var text, js bytes.Buffer
	printEvents(&text, events, nil)
	if err := printEventsJSON(&js, events, nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	if len(lines) != 2 || strings.Contains(lines[0], " count=") || !strings.HasSuffix(lines[1], " count=123") {
		t.Errorf("text:\n%s", text.String())
	}
	jl := strings.Split(strings.TrimSpace(js.String()), "\n")
	if len(jl) != 2 || strings.Contains(jl[0], `"count"`) || !strings.Contains(jl[1], `"count":123`) {
		t.Errorf("json:\n%s", js.String())
	}
}

// TestAdminOutputEscaped: values from the database that would drive a
// terminal (an escape sequence, a C1 control, a bidirectional override, a
// zero-width space) are escaped in the text and the JSON output.
func TestAdminOutputEscaped(t *testing.T) {
	hostile := "x\x1b]0;pwned\x07\u009b2J\u202egnp\u200b@example.com"
	for _, s := range []string{display(hostile), plain(hostile)} {
		for _, r := range s {
			if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0x202e || r == 0x200b {
				t.Errorf("text output %q holds %U", s, r)
			}
		}
	}
	if display("alice@example.com") != "alice@example.com" {
		t.Errorf("display changed a plain value: %q", display("alice@example.com"))
	}
	var js bytes.Buffer
	events := []store.AuthEvent{{At: time.Unix(0, 0), Type: store.EventRateLimited, Reason: hostile}}
	if err := printEventsJSON(&js, events, nil); err != nil {
		t.Fatal(err)
	}
	if err := writeJSON(&js, map[string]string{"email": hostile}, true); err != nil {
		t.Fatal(err)
	}
	for _, r := range js.String() {
		if (r < 0x20 && r != '\n') || (r >= 0x7f && r <= 0x9f) || r == 0x202e || r == 0x200b {
			t.Fatalf("JSON output holds %U:\n%s", r, js.String())
		}
	}
}
