package webhook

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The headers of a delivery. docs/webhooks.md shows how to check them.
const (
	HeaderID        = "Mentor-Webhook-Id"        // the delivery's id: receivers use it to drop repeats
	HeaderEvent     = "Mentor-Webhook-Event"     // the event name
	HeaderTimestamp = "Mentor-Webhook-Timestamp" // Unix seconds when this attempt was signed
	HeaderSignature = "Mentor-Webhook-Signature" // "v1=" and the hex HMAC-SHA256 of timestamp + "." + body
)

// Tolerance is how old a signed timestamp Verify accepts: long enough for clock skew and a
// slow network, short enough that a captured request cannot be replayed much later.
const Tolerance = 5 * time.Minute

// Sign returns the signature header value for body sent at ts, signed with secret.
func Sign(secret string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a delivery as a receiver would: timestamp is the HeaderTimestamp value,
// signature the HeaderSignature value (which may hold several comma-separated
// signatures, one per secret while a secret is being replaced), body the raw request body.
// It fails when no signature matches or the timestamp is more than Tolerance from now.
func Verify(secret, timestamp, signature string, body []byte, now time.Time) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook timestamp %q is not Unix seconds", timestamp)
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d > Tolerance || d < -Tolerance {
		return fmt.Errorf("webhook timestamp %s is %s from now: older than %s, refused as a possible replay", ts.UTC().Format(time.RFC3339), d.Round(time.Second), Tolerance)
	}
	want := Sign(secret, ts, body)
	for _, s := range strings.Split(signature, ",") {
		if hmac.Equal([]byte(strings.TrimSpace(s)), []byte(want)) {
			return nil
		}
	}
	return errors.New("webhook signature does not match")
}

// secretPrefix marks Mentor's webhook secrets, so that one pasted into the wrong place is
// recognised.
const secretPrefix = "whsec_"

// newSecret returns a fresh signing secret: 32 random bytes.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return secretPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// Sealer encrypts signing secrets for storage with AES-256-GCM. A secret cannot be hashed
// like a password, since every delivery needs it to sign, so the database holds it
// encrypted with a key that lives outside the database (MENTOR_WEBHOOK_KEY): a copy of
// the database alone does not let anyone forge deliveries.
type Sealer struct {
	aead cipher.AEAD
}

// KeySize is the length of a webhook key, in bytes before base64.
const KeySize = 32

// ParseKey reads a key given as base64 (standard or URL alphabet, padded or not), as
// `openssl rand -base64 32` prints one.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("the key is %d bytes; it must be %d (make one with: openssl rand -base64 32)", len(k), KeySize)
			}
			return k, nil
		}
	}
	return nil, errors.New("the key is not base64 (make one with: openssl rand -base64 32)")
}

// NewSealer returns a Sealer with key, which must be KeySize bytes.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("webhook key: %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("webhook key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("webhook key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// seal encrypts secret; the nonce is stored in front of the ciphertext. The webhook's id
// is the additional data, so a sealed secret copied to another row does not open.
func (s *Sealer) seal(secret string, webhookID int64) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, []byte(secret), []byte(strconv.FormatInt(webhookID, 10)))
}

func (s *Sealer) open(sealed []byte, webhookID int64) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("sealed webhook secret is too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(strconv.FormatInt(webhookID, 10)))
	if err != nil {
		return "", fmt.Errorf("open webhook %d's secret (was MENTOR_WEBHOOK_KEY changed?): %w", webhookID, err)
	}
	return string(plain), nil
}
