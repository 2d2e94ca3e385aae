package sqlstore_test

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		BadDeps: map[string]string{
			deptest.Module + "/server/...": "the store knows records, not the rules that use them",
			deptest.Module + "/client/...": "the store is server-side",
			deptest.Module + "/setup/...":  "setup uses the store, not the other way round",
		},
	}.Check(t)
}
