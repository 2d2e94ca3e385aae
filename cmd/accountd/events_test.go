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
