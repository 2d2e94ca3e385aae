package main

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		BadDeps: map[string]string{deptest.Module + "/setup/...": "the load generator spawns accountd; it does not read its sealed config"},
	}.Check(t)
}
