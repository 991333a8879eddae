package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/live"
)

// The session websocket: the server upgrades the connection and says who opened it; the live
// engine (package live) runs everything on it.

// upgrader accepts only browsers on an allowed origin: a page on another site cannot open a
// socket with the trainer's cookie (cross-site websocket hijacking).
func upgrader(allowed []string) *websocket.Upgrader {
	return &websocket.Upgrader{
		ReadBufferSize: 4096, WriteBufferSize: 4096,
		CheckOrigin: func(r *http.Request) bool {
			origin := r.Header.Get("Origin")
			if origin == "" {
				return true // not a browser (a script with a token); browsers always send Origin
			}
			u, err := url.Parse(origin)
			if err != nil {
				return false
			}
			if strings.EqualFold(u.Host, r.Host) {
				return true
			}
			return slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, origin) })
		},
	}
}

// handleWebsocket upgrades to the session websocket and hands it to the live engine, which
// runs one reader (this goroutine) and one writer for it.
func handleWebsocket(d Deps) apiFunc {
	up := upgrader(d.AllowedOrigins)
	return func(c *gin.Context) error {
		p := principalOf(c)
		if !websocket.IsWebSocketUpgrade(c.Request) {
			return errs.E(errs.Invalid, "this route speaks websocket only")
		}
		if d.Engine.Full(p.user.ID) {
			return errs.E(errs.RateLimited, "you have %d connections open already: close a tab", live.MaxSocketsPerUser)
		}
		conn, err := up.Upgrade(c.Writer, c.Request, nil)
		if err != nil {
			return nil // the upgrader has already answered (403 for a foreign origin)
		}
		d.Engine.Serve(c.Request.Context(), conn, live.Caller{User: p.user, Scopes: p.scopes(), Lang: requestLang(c.Request),
			Credential: credentialOf(c)})
		return nil
	}
}

// credentialOf is the session or token the request came with, for the engine's re-checks.
func credentialOf(c *gin.Context) auth.Credential {
	if h := c.GetHeader("Authorization"); h != "" {
		return auth.Credential{Token: strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))}
	}
	cookie, _ := c.Cookie(sessionCookie)
	return auth.Credential{Session: cookie}
}

// DecodeCommand parses one websocket command strictly, as the JSON API binds a body: unknown
// fields are refused, and every error names what was wrong (live.Deps.Decode).
func DecodeCommand(raw []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	return nil
}

// CheckNUL refuses a message holding a NUL character, naming where (live.Deps.CheckNUL):
// PostgreSQL text cannot hold one.
func CheckNUL(raw []byte) error { return rejectNUL(raw) }
