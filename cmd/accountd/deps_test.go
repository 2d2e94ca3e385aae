package main

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		BadDeps: map[string]string{
			deptest.Module + "/client":      "the server command does not use the SDK (it serves client/js's files, through the server)",
			deptest.Module + "/client/menu": "the server command has no terminal client menu",
		},
	}.Check(t)
}
