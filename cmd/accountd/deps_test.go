package main

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		BadDeps: map[string]string{deptest.Module + "/client/...": "the server command does not use the SDK"},
	}.Check(t)
}
