package server

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/audit"
	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/errs"
)

// record writes an audit event with the caller's identity and address filled in. A failure
// is logged, not returned: the action itself already happened.
func record(c *gin.Context, d Deps, e audit.Event) {
	if v, ok := c.Get(keyPrincipal); ok {
		p := v.(principal)
		e.ActorID, e.Actor = &p.user.ID, p.user.Login
		if p.token != nil {
			e.TokenID = &p.token.ID
		}
	}
	e.IP, e.UserAgent = clientIP(c), c.Request.UserAgent()
	if len(e.UserAgent) > 512 {
		e.UserAgent = e.UserAgent[:512]
	}
	if err := d.Audit.Record(c.Request.Context(), e); err != nil {
		d.Logger.ErrorContext(c.Request.Context(), "audit", "action", e.Action, "err", err)
	}
}

// sessionView is who is signed in: a session's user, its CSRF token and the user's roles;
// or, for a request with an API token, the token in place of the CSRF token.
type sessionView struct {
	User      auth.User     `json:"user"`
	CSRFToken string        `json:"csrf_token,omitempty"`
	Roles     []projectRole `json:"roles"`
	Token     *auth.Token   `json:"token,omitempty"`
}

// signInInput is POST /session.
type signInInput struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

// passwordChange is PUT /session/password.
type passwordChange struct {
	Current string `json:"current_password"`
	New     string `json:"new_password"`
}

// disabledInput is PUT /users/:user/disabled.
type disabledInput struct {
	Disabled *bool `json:"disabled"`
}

// passwordInput is an administrator's PUT /users/:user/password.
type passwordInput struct {
	Password string `json:"password"`
}

// roleInput is PUT /projects/:project/members/:user.
type roleInput struct {
	Role auth.Role `json:"role"`
}

// tokenInput is POST /tokens: the password is asked again, as a token outlives the session.
type tokenInput struct {
	Name     string       `json:"name"`
	Scopes   []auth.Scope `json:"scopes"`
	Password string       `json:"password"`
}

// tokenCreated is a new token with its secret, shown this once.
type tokenCreated struct {
	Token  auth.Token `json:"token"`
	Secret string     `json:"secret"`
}

// userList is GET /users.
type userList struct {
	Users []auth.User `json:"users"`
}

// memberList is a project's members.
type memberList struct {
	Members []auth.Member `json:"members"`
}

// tokenList is the caller's own tokens.
type tokenList struct {
	Tokens []auth.Token `json:"tokens"`
}

// auditList is a page of audit events, newest first.
type auditList struct {
	Events []audit.Event `json:"events"`
}

type projectRole struct {
	ProjectID int64     `json:"project_id"`
	Role      auth.Role `json:"role"`
}

func setSessionCookie(c *gin.Context, d Deps, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secureRequest(c, len(d.TrustedProxies) > 0),
	})
}

// verifyPassword checks a password as every network-facing check must: the attempt is
// charged to the throttle first, a failure is audited, and a success gives the charge back.
func verifyPassword(c *gin.Context, d Deps, login, password string) (auth.User, error) {
	ctx := c.Request.Context()
	keys := auth.ThrottleKeys(login, clientIP(c))
	wait, err := d.Auth.Admit(ctx, keys)
	if err != nil {
		return auth.User{}, err
	}
	if wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		c.Header("Retry-After", strconv.Itoa(secs))
		return auth.User{}, errs.E(errs.RateLimited, "too many failed sign-ins: try again in %d seconds", secs)
	}
	u, err := d.Auth.Authenticate(ctx, login, password)
	if errors.Is(err, auth.ErrBadCredentials) {
		// What was typed as a login goes into the log only if it could be one: a password
		// pasted into the wrong field must not end up there.
		target := "(not a valid login)"
		if auth.ValidLogin(login) {
			target = auth.NormalizeLogin(login)
		}
		record(c, d, audit.Event{Action: audit.SignInFailed, Target: target})
		return auth.User{}, err
	}
	if err != nil {
		return auth.User{}, err
	}
	return u, d.Auth.Succeeded(ctx, keys)
}

// handleSignIn checks a login and password, throttled per login-and-address and per address,
// and starts a new session (a new secret every time, so a planted cookie is useless).
func handleSignIn(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		var in signInInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		if in.Login == "" || in.Password == "" {
			return errs.E(errs.Invalid, "send both login and password")
		}
		u, err := verifyPassword(c, d, in.Login, in.Password)
		if err != nil {
			return err
		}
		// Rotate: whatever session this browser had ends now.
		if old, _ := c.Cookie(sessionCookie); old != "" {
			d.Auth.EndSession(ctx, old) //nolint:errcheck // best effort; the new session does not depend on it
		}
		secret, sess, err := d.Auth.CreateSession(ctx, u.ID, clientIP(c), c.Request.UserAgent(), d.Sessions)
		if err != nil {
			return err
		}
		setSessionCookie(c, d, secret, int(d.Sessions.Absolute.Seconds()))
		c.Set(keyPrincipal, principal{user: u, session: &sess})
		record(c, d, audit.Event{Action: audit.SignIn, Target: u.Login})
		view, err := viewSession(c, d, sess)
		return respond(c, http.StatusOK, view, err)
	}
}

func viewSession(c *gin.Context, d Deps, sess auth.Session) (sessionView, error) {
	roles, err := rolesOf(c, d, sess.User.ID)
	return sessionView{User: sess.User, CSRFToken: sess.CSRFToken, Roles: roles}, err
}

// rolesOf lists the user's role in each of their projects.
func rolesOf(c *gin.Context, d Deps, userID int64) ([]projectRole, error) {
	ids, err := d.Auth.ProjectIDs(c.Request.Context(), userID)
	if err != nil {
		return nil, err
	}
	roles := []projectRole{}
	for _, id := range ids {
		r, err := d.Auth.Role(c.Request.Context(), userID, id)
		if err != nil {
			return nil, err
		}
		roles = append(roles, projectRole{ProjectID: id, Role: r})
	}
	return roles, nil
}

func handleGetSession(d Deps) apiFunc {
	return func(c *gin.Context) error {
		p := principalOf(c)
		if p.session == nil {
			// A token has no session, so no CSRF token; the roles are its owner's.
			roles, err := rolesOf(c, d, p.user.ID)
			return respond(c, http.StatusOK, sessionView{User: p.user, Token: p.token, Roles: roles}, err)
		}
		view, err := viewSession(c, d, *p.session)
		return respond(c, http.StatusOK, view, err)
	}
}

func handleSignOut(d Deps) apiFunc {
	return func(c *gin.Context) error {
		if cookie, _ := c.Cookie(sessionCookie); cookie != "" {
			if err := d.Auth.EndSession(c.Request.Context(), cookie); err != nil {
				return err
			}
		}
		setSessionCookie(c, d, "", -1)
		d.Engine.RecheckUser(c.Request.Context(), principalOf(c).user.ID) // this browser's sockets close now
		record(c, d, audit.Event{Action: audit.SignOut})
		c.Status(http.StatusNoContent)
		return nil
	}
}

// handleChangeOwnPassword needs the current password, then ends every session (this one
// included), so a stolen session cannot outlive the change.
func handleChangeOwnPassword(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		p := principalOf(c)
		var in passwordChange
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		// The new password is checked first, so that a refused change says nothing about
		// whether the current password was right.
		if err := auth.ValidatePassword("new_password", in.New); err != nil {
			return err
		}
		if _, err := verifyPassword(c, d, p.user.Login, in.Current); err != nil {
			if errors.Is(err, auth.ErrBadCredentials) {
				return errs.Field("current_password", "is wrong")
			}
			return err
		}
		if err := d.Auth.SetPassword(ctx, p.user.ID, in.New); err != nil {
			return err
		}
		record(c, d, audit.Event{Action: audit.PasswordReset, Target: p.user.Login, Details: map[string]any{"by": "self"}})
		setSessionCookie(c, d, "", -1)
		d.Engine.CloseUser(c.Request.Context(), p.user.ID)
		c.Status(http.StatusNoContent)
		return nil
	}
}

func userParam(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("user"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.E(errs.NotFound, "no user %q", c.Param("user"))
	}
	return id, nil
}

func handleListUsers(d Deps) apiFunc {
	return func(c *gin.Context) error {
		users, err := d.Auth.Users(c.Request.Context())
		return respond(c, http.StatusOK, userList{Users: users}, err)
	}
}

func handleCreateUser(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in auth.NewUser
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		u, err := d.Auth.CreateUser(c.Request.Context(), in)
		if err != nil {
			return err
		}
		record(c, d, audit.Event{Action: audit.UserCreated, Target: u.Login, Details: map[string]any{"is_admin": u.IsAdmin}})
		c.JSON(http.StatusCreated, u)
		return nil
	}
}

func handleSetUserDisabled(d Deps) apiFunc {
	return func(c *gin.Context) error {
		id, err := userParam(c)
		if err != nil {
			return err
		}
		var in disabledInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		if in.Disabled == nil {
			return errs.Field("disabled", "must be true or false")
		}
		if *in.Disabled && id == principalOf(c).user.ID {
			return errs.E(errs.Unprocessable, "you cannot disable your own account")
		}
		if err := d.Auth.SetDisabled(c.Request.Context(), id, *in.Disabled); err != nil {
			return err
		}
		u, err := d.Auth.User(c.Request.Context(), id)
		if err != nil {
			return err
		}
		action := audit.UserEnabled
		if *in.Disabled {
			action = audit.UserDisabled
			d.Engine.CloseUser(c.Request.Context(), u.ID)
		}
		record(c, d, audit.Event{Action: action, Target: u.Login})
		c.JSON(http.StatusOK, u)
		return nil
	}
}

func handleResetPassword(d Deps) apiFunc {
	return func(c *gin.Context) error {
		id, err := userParam(c)
		if err != nil {
			return err
		}
		var in passwordInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		if err := d.Auth.SetPassword(c.Request.Context(), id, in.Password); err != nil {
			return err
		}
		u, err := d.Auth.User(c.Request.Context(), id)
		if err != nil {
			return err
		}
		d.Engine.CloseUser(c.Request.Context(), u.ID)
		record(c, d, audit.Event{Action: audit.PasswordReset, Target: u.Login, Details: map[string]any{"by": "admin"}})
		c.Status(http.StatusNoContent)
		return nil
	}
}

func handleListMembers(d Deps) apiFunc {
	return func(c *gin.Context) error {
		members, err := d.Auth.Members(c.Request.Context(), projectOf(c).ID)
		return respond(c, http.StatusOK, memberList{Members: members}, err)
	}
}

// handleSetMember adds a user to the project by login, or changes their role.
func handleSetMember(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		p := projectOf(c)
		var in roleInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		u, err := d.Auth.UserByLogin(ctx, c.Param("user"))
		if err != nil {
			return err
		}
		if err := d.Auth.SetRole(ctx, p.ID, u.ID, in.Role); err != nil {
			return err
		}
		record(c, d, audit.Event{Action: audit.RoleChanged, ProjectID: &p.ID, Target: u.Login, Details: map[string]any{"role": in.Role}})
		members, err := d.Auth.Members(ctx, p.ID)
		return respond(c, http.StatusOK, memberList{Members: members}, err)
	}
}

func handleRemoveMember(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		p := projectOf(c)
		u, err := d.Auth.UserByLogin(ctx, c.Param("user"))
		if err != nil {
			return err
		}
		if err := d.Auth.RemoveMember(ctx, p.ID, u.ID); err != nil {
			return err
		}
		record(c, d, audit.Event{Action: audit.MemberRemoved, ProjectID: &p.ID, Target: u.Login})
		c.Status(http.StatusNoContent)
		return nil
	}
}

func handleListTokens(d Deps) apiFunc {
	return func(c *gin.Context) error {
		tokens, err := d.Auth.Tokens(c.Request.Context(), principalOf(c).user.ID)
		return respond(c, http.StatusOK, tokenList{Tokens: tokens}, err)
	}
}

// handleCreateToken returns the token's secret once; only its hash is kept.
func handleCreateToken(d Deps) apiFunc {
	return func(c *gin.Context) error {
		p := principalOf(c)
		var in tokenInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		if _, err := verifyPassword(c, d, p.user.Login, in.Password); err != nil {
			if errors.Is(err, auth.ErrBadCredentials) {
				return errs.Field("password", "is wrong: creating a token needs your current password")
			}
			return err
		}
		secret, tok, err := d.Auth.CreateToken(c.Request.Context(), p.user.ID, in.Name, in.Scopes)
		if err != nil {
			return err
		}
		record(c, d, audit.Event{Action: audit.TokenCreated, Target: tok.Prefix, Details: map[string]any{"name": tok.Name, "scopes": tok.Scopes}})
		c.JSON(http.StatusCreated, tokenCreated{Token: tok, Secret: secret})
		return nil
	}
}

func handleRevokeToken(d Deps) apiFunc {
	return func(c *gin.Context) error {
		id, err := strconv.ParseInt(c.Param("token"), 10, 64)
		if err != nil {
			return errs.E(errs.NotFound, "no token %q", c.Param("token"))
		}
		if err := d.Auth.RevokeToken(c.Request.Context(), principalOf(c).user.ID, id); err != nil {
			return err
		}
		d.Engine.RecheckUser(c.Request.Context(), principalOf(c).user.ID) // sockets opened with it close now
		record(c, d, audit.Event{Action: audit.TokenRevoked, Target: fmt.Sprint(id)})
		c.Status(http.StatusNoContent)
		return nil
	}
}

// handleListAudit lists audit events: the whole log for instance admins, or one project's.
func handleListAudit(d Deps, perProject bool) apiFunc {
	return func(c *gin.Context) error {
		f := audit.Filter{Action: c.Query("action")}
		if perProject {
			f.ProjectID = projectOf(c).ID
		}
		if b := c.Query("before"); b != "" {
			n, err := strconv.ParseInt(b, 10, 64)
			if err != nil {
				return errs.Field("before", "must be an event id, got %q", b)
			}
			f.Before = n
		}
		events, err := d.Audit.List(c.Request.Context(), f)
		return respond(c, http.StatusOK, auditList{Events: events}, err)
	}
}
