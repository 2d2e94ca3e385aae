package sqltest_test

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		TestHelper: true,
		BadDeps:    map[string]string{deptest.Module + "/server/...": "throwaway databases for tests of any package, the server's included"},
	}.Check(t)
}
