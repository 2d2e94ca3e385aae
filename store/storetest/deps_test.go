package storetest_test

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		TestHelper: true,
		BadDeps:    map[string]string{deptest.Module + "/server/...": "the conformance suite tests stores, not the rules"},
	}.Check(t)
}
