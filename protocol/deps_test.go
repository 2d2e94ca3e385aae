package protocol_test

import (
	"strings"
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		Forbid: func(dep string) string {
			if !deptest.Std(dep) && !strings.HasPrefix(dep, "golang.org/x/crypto/") {
				return "the wire format depends on the standard library (and x/crypto) only, so other implementations can follow it"
			}
			return ""
		},
	}.Check(t)
}
