package server_test

import (
	"strings"
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	parallel(t)
	deptest.DepChecker{
		BadDeps: map[string]string{
			deptest.Module + "/setup/...":   "the server takes its config from cmd, not from the sealed file",
			deptest.Module + "/client":      "the server answers the SDK; it does not use it",
			deptest.Module + "/client/menu": "the server answers the SDK; it does not use it",
			"github.com/charmbracelet/huh":  "terminal forms live in client/menu and setup/wizard only",
		},
		// client/js is the one client package the server may import: the
		// browser SDK's files, embedded, which the account console serves.
		Forbid: func(dep string) string {
			if strings.HasPrefix(dep, deptest.Module+"/client/") && dep != deptest.Module+"/client/js" && dep != deptest.Module+"/client/menu" {
				return "the server answers the SDK; it does not use it (only client/js, the browser SDK's embedded files, is served)"
			}
			return ""
		},
	}.Check(t)
}
