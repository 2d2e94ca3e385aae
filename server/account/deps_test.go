package account_test

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		BadDeps: map[string]string{
			"github.com/coder/websocket/...": "the rules know no transport: the server package speaks the protocol",
			deptest.Module + "/server":       "the rules never import their transport",
			deptest.Module + "/client/...":   "the rules take requests, they do not make them",
			deptest.Module + "/setup/...":    "the rules take their config from cmd, not from the sealed file",
			"github.com/charmbracelet/huh":   "terminal forms live in client/menu and setup/wizard only",
		},
		BadImports: map[string]string{
			"net/http": "the rules know no transport: HTTP handlers live in the server package",
			"github.com/prometheus/client_golang/prometheus/promhttp": "serving metrics is the transport's job",
		},
	}.Check(t)
}
