package client_test

import (
	"testing"

	"github.com/accountd/accountd/server/servertest/deptest"
)

func TestDeps(t *testing.T) {
	deptest.DepChecker{
		BadDeps: map[string]string{
			deptest.Module + "/server/...": "the SDK speaks the protocol only and must not pull in the server side",
			deptest.Module + "/store/...":  "the SDK speaks the protocol only and must not pull in the server side",
			deptest.Module + "/setup/...":  "the SDK speaks the protocol only and must not pull in the server side",
			"github.com/charmbracelet/huh": "the SDK has no terminal UI: forms live in client/menu",
			"github.com/mdp/qrterminal/v3": "the SDK has no terminal UI: the QR code is drawn by client/menu",
			"github.com/pquerna/otp/...":   "codes come from the user's authenticator app: the SDK only carries them",
		},
	}.Check(t)
}
