package servertest_test

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		TestHelper: true,
		BadDeps: map[string]string{
			deptest.Module + "/client":      "the test server must not depend on the SDK it is used to test",
			deptest.Module + "/client/menu": "the test server must not depend on the client it is used to test",
		},
	}.Check(t)
}
