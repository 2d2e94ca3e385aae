package js_test

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		Forbid: func(dep string) string {
			if !deptest.Std(dep) {
				return "the embedded browser SDK is files only: the server imports it, so it must pull in nothing"
			}
			return ""
		},
	}.Check(t)
}
