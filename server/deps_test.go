package server_test

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		BadDeps: map[string]string{
			deptest.Module + "/setup/...":  "the server takes its config from cmd, not from the sealed file",
			deptest.Module + "/client/...": "the server answers the SDK; it does not use it",
			"github.com/charmbracelet/huh": "terminal forms live in client/menu and setup/wizard only",
		},
	}.Check(t)
}
