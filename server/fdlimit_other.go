//go:build !unix

package server

import "errors"

// fdLimit is unknown here.
func fdLimit() (uint64, error) { return 0, errors.New("server: file-descriptor limit unknown") }
