package store_test

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		Forbid: func(dep string) string {
			if !deptest.Std(dep) {
				return "records and the Store interface stay standard-library only"
			}
			return ""
		},
	}.Check(t)
}
