package admission_test

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		BadDeps: map[string]string{
			deptest.Module + "/server":         "a mechanism knows no transport",
			deptest.Module + "/server/account": "a mechanism knows no rules: the rules use it",
			deptest.Module + "/store/...":      "a mechanism knows no storage",
		},
		BadImports: map[string]string{"net/http": "a mechanism knows no transport"},
	}.Check(t)
}
