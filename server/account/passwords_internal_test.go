package account

import (
	"strings"
	"testing"
)

func TestCommonPasswords(t *testing.T) {
	t.Parallel()
	if n := strings.Count(strings.TrimSpace(commonPasswordList), "\n") + 1; n != 10000 {
		t.Fatalf("the list has %d passwords, want 10,000", n)
	}
	// Some differ only in case; the check ignores case.
	if n := len(commonPasswords()); n < 9900 {
		t.Fatalf("%d distinct common passwords loaded, want over 9,900", n)
	}
	for _, p := range []string{"password", "Password", "123456", "baseball", "trustno1", "1qaz2wsx"} {
		if !isCommonPassword(p) {
			t.Errorf("%q not found", p)
		}
	}
	if isCommonPassword("correct horse battery staple") {
		t.Error("a passphrase counted as common")
	}
}
