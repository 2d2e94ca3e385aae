package argon2id_test

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		BadDeps: map[string]string{
			deptest.Module + "/server":         "a mechanism knows no transport",
			deptest.Module + "/server/account": "a mechanism knows no rules: the rules use it",
			"github.com/coder/websocket/...":   "a mechanism knows no transport",
			deptest.Module + "/setup/...":      "a mechanism takes its settings from its caller",
		},
		BadImports: map[string]string{"net/http": "a mechanism knows no transport"},
	}.Check(t)
}
