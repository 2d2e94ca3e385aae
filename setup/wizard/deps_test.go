package wizard_test

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		BadDeps: map[string]string{
			deptest.Module + "/server":     "the wizard writes the config; the transport is started by cmd",
			deptest.Module + "/client/...": "the wizard is server-side",
		},
	}.Check(t)
}
