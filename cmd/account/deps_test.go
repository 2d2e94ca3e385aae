package main

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		BadDeps: map[string]string{
			deptest.Module + "/server/...": "the terminal client speaks the protocol through the SDK only",
			deptest.Module + "/store/...":  "the terminal client speaks the protocol through the SDK only",
			deptest.Module + "/setup/...":  "the terminal client speaks the protocol through the SDK only",
		},
	}.Check(t)
}
