package mailer_test

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		BadDeps: map[string]string{
			deptest.Module + "/server":         "a mechanism knows no transport",
			deptest.Module + "/server/account": "a mechanism knows no rules: the rules use it",
			deptest.Module + "/store/...":      "sending mail needs no database: the queue is the rules' job",
			deptest.Module + "/setup/...":      "a mechanism takes its settings from its caller",
		},
	}.Check(t)
}
