package protocol_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/accountd/accountd/protocol"
)

func TestCheckClient(t *testing.T) {
	for _, tt := range []struct {
		client string
		ok     bool
	}{
		{"", true},
		{"account/1.0 (linux; amd64)", true},
		{strings.Repeat("x", protocol.MaxClientLength), true},
		{strings.Repeat("x", protocol.MaxClientLength+1), false},
		{"tab\there", false},
		{"escape\x1b[2J", false},
		{"delete\x7f", false},
		{"café", false},
	} {
		if err := protocol.CheckClient(tt.client); (err == nil) != tt.ok {
			t.Errorf("CheckClient(%q) = %v, want ok %v", tt.client, err, tt.ok)
		}
	}
}

// TestChangePasswordDefault: an absent end_other_sessions is told apart
// from false, so the server can apply its default (true).
func TestChangePasswordDefault(t *testing.T) {
	for _, tt := range []struct {
		body string
		want *bool
	}{
		{`{"token":"t","current_password":"a","new_password":"b"}`, nil},
		{`{"token":"t","current_password":"a","new_password":"b","end_other_sessions":null}`, nil},
		{`{"token":"t","current_password":"a","new_password":"b","end_other_sessions":false}`, new(false)},
		{`{"token":"t","current_password":"a","new_password":"b","end_other_sessions":true}`, new(true)},
	} {
		var r protocol.ChangePasswordRequest
		if err := protocol.DecodeBody(json.RawMessage(tt.body), &r); err != nil {
			t.Fatalf("%s: %v", tt.body, err)
		}
		if (r.EndOtherSessions == nil) != (tt.want == nil) || r.EndOtherSessions != nil && *r.EndOtherSessions != *tt.want {
			t.Errorf("%s: end_other_sessions = %v, want %v", tt.body, r.EndOtherSessions, tt.want)
		}
	}
	var r protocol.ChangePasswordRequest
	if err := protocol.DecodeBody(json.RawMessage(`{"token":"t","end_other_sessions":"yes"}`), &r); err == nil {
		t.Error("a string end_other_sessions decoded")
	}
}

// TestChangePasswordResultFlat: the result's token members sit beside
// sessions_ended, not in a nested object.
func TestChangePasswordResultFlat(t *testing.T) {
	b, err := json.Marshal(protocol.ChangePasswordResult{TokenResult: protocol.TokenResult{Token: "t", SessionID: "s"}, SessionsEnded: 2})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["token"] != "t" || m["session_id"] != "s" || m["sessions_ended"] != 2.0 {
		t.Errorf("encoded %s; want token, session_id and sessions_ended at the top", b)
	}
}
