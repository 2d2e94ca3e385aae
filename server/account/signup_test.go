package account_test

import (
	"strings"
	"testing"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
)

// TestSignupIdempotencyKey: a signup sent again with the same idempotency
// key and password (a client that never saw the first answer) is told
// about the account the first one made, and nothing is written twice; any
// other signup of that username is told it is taken.
func TestSignupIdempotencyKey(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		svc := mustService(t, testConfig(t, st, servertest.NewClock()))
		ctx := ctxT(t)
		const key = "Zk3q9-Vb_1xYt0pQm7Wn2A"
		req := protocol.SignupRequest{Username: "alice", Password: goodPassword, Email: "alice@example.com", IdempotencyKey: key}
		first, err := svc.Signup(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := svc.Signup(ctx, req)
		if err != nil {
			t.Fatalf("the same signup again: %v", err)
		}
		if again.Account != first.Account || again.GeneratedPassword != "" {
			t.Fatalf("the same signup again: %+v, want %+v", again, first)
		}
		for name, r := range map[string]protocol.SignupRequest{
			"another key":      {Username: "alice", Password: goodPassword, IdempotencyKey: strings.Repeat("k", 22)},
			"no key":           {Username: "alice", Password: goodPassword},
			"another password": {Username: "alice", Password: goodPassword + "!", IdempotencyKey: key},
			"another case":     {Username: "ALICE", Password: goodPassword + "?", IdempotencyKey: key},
		} {
			if _, err := svc.Signup(ctx, r); !isCode(err, protocol.CodeUsernameTaken) {
				t.Errorf("%s: %v, want username_taken", name, err)
			}
		}
		if n := servertest.CountEvents(servertest.Events(t, st, store.AuthEventFilter{}), store.EventSignup, ""); n != 1 {
			t.Errorf("%d signup events, want 1", n)
		}
		for name, r := range map[string]protocol.SignupRequest{
			"no password":   {Username: "bob", IdempotencyKey: key},
			"too short":     {Username: "bob", Password: goodPassword, IdempotencyKey: key[:21]},
			"too long":      {Username: "bob", Password: goodPassword, IdempotencyKey: strings.Repeat("k", 65)},
			"not base64url": {Username: "bob", Password: goodPassword, IdempotencyKey: "Zk3q9+Vb/1xYt0pQm7Wn2A"},
		} {
			if _, err := svc.Signup(ctx, r); !isCode(err, protocol.CodeBadRequest) {
				t.Errorf("%s: %v, want bad_request", name, err)
			}
		}
	})
}
