package auth_test

import (
	"testing"

	"github.com/mentor-ai/mentor/auth"
)

// BenchmarkCheckPassword is the CPU cost of one sign-in (argon2id, 19 MiB, t=2, p=1): it
// bounds how many sign-ins a core can check per second.
func BenchmarkCheckPassword(b *testing.B) {
	h, err := auth.HashPassword("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, err := auth.CheckPassword(h, "correct horse battery staple"); !ok || err != nil {
			b.Fatal("mismatch", err)
		}
	}
}
