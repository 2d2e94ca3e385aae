package menu_test

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		BadDeps: map[string]string{
			deptest.Module + "/server/...": "the menu is a client: it speaks the protocol through the SDK only",
			deptest.Module + "/store/...":  "the menu is a client: it speaks the protocol through the SDK only",
			deptest.Module + "/setup/...":  "the menu is a client: it speaks the protocol through the SDK only",
		},
	}.Check(t)
}
