package account

import (
	"encoding/base64"
	"testing"
)

// TestStrictJOSE: the checks made before golang-jwt parses a token refuse
// what it would accept: a "crit" header, a time claim that is a string,
// bytes outside base64url.
func TestStrictJOSE(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	sig := enc("signature")
	good := enc(`{"alg":"PS256","kid":"k"}`) + "." + enc(`{"exp":1700000000,"nbf":1,"iat":1.5,"sub":"x"}`) + "." + sig
	if !compactJWS(good) || !strictJOSE(good) {
		t.Fatal("a well-formed token is refused")
	}
	for name, tok := range map[string]string{
		"crit":       enc(`{"alg":"PS256","crit":["exp"]}`) + "." + enc(`{"exp":1}`) + "." + sig,
		"string exp": enc(`{"alg":"PS256"}`) + "." + enc(`{"exp":"1700000000"}`) + "." + sig,
		"string nbf": enc(`{"alg":"PS256"}`) + "." + enc(`{"nbf":"1"}`) + "." + sig,
		"null iat":   enc(`{"alg":"PS256"}`) + "." + enc(`{"iat":null}`) + "." + sig,
		"not json":   enc(`nope`) + "." + enc(`{}`) + "." + sig,
	} {
		if compactJWS(tok) && strictJOSE(tok) {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, tok := range []string{good + "\n", good[:5] + "\r\n" + good[5:], good + "=", "a.b", "a.b.c.d", good[:5] + "+" + good[6:]} {
		if compactJWS(tok) {
			t.Errorf("%q: accepted as compact JWS", tok)
		}
	}
}
