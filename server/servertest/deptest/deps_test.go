package deptest

import "testing"

func TestDeps(t *testing.T) {
	DepChecker{
		TestHelper: true,
		BadDeps:    map[string]string{Module + "/server/...": "the checker is used by every package's tests; it must not drag the server into them"},
		Forbid: func(dep string) string {
			if !Std(dep) {
				return "the checker uses the standard library only"
			}
			return ""
		},
	}.Check(t)
}

func TestMatches(t *testing.T) {
	for _, tt := range []struct {
		rule, dep string
		want      bool
	}{
		{"net/http", "net/http", true},
		{"net/http", "net/http/httptest", false},
		{"net/http/...", "net/http/httptest", true},
		{"net/http/...", "net/http", true},
		{"net/http/...", "net/httpx", false},
	} {
		if got := matches(tt.rule, tt.dep); got != tt.want {
			t.Errorf("matches(%q, %q) = %v, want %v", tt.rule, tt.dep, got, tt.want)
		}
	}
	if !Std("crypto/sha256") || !Std("vendor/golang.org/x/net/http2/hpack") || Std("golang.org/x/crypto/hkdf") {
		t.Error("Std misclassifies")
	}
}
