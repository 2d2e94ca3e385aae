package setup_test

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		BadDeps: map[string]string{
			deptest.Module + "/server":       "setup writes the config; the transport is started by cmd",
			"github.com/coder/websocket/...": "setup knows no transport",
			deptest.Module + "/client/...":   "setup is server-side",
			"github.com/charmbracelet/huh":   "the wizard's forms live in setup/wizard",
		},
	}.Check(t)
}
