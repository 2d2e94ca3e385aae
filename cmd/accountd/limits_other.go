//go:build !unix

package main

import "errors"

// raiseFileLimit cannot be done here.
func raiseFileLimit() (uint64, error) { return 0, errors.New("no file limit on this system") }
