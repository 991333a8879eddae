package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/errs"
)

// Account is a demo account and its password, for development mode only.
type Account struct {
	Login    string `json:"login"`
	Password string `json:"password"`
	Role     string `json:"role"` // for people: what the account can do
}

var demoAccounts = []struct {
	login, name string
	admin       bool
	role        auth.Role
	describe    string
}{
	{"admin", "管理员 Admin", true, "", "instance administrator / 系统管理员"},
	{"trainer", "训练师 Trainer", false, auth.RoleTrainer, "trainer in the demo project / 演示项目训练师"},
	{"reviewer", "审核员 Reviewer", false, auth.RoleReviewer, "reviewer in the demo project / 演示项目审核员"},
}

// Accounts makes sure the demo accounts exist with the passwords kept in credentialsFile,
// generating random ones the first time. The file is git-ignored and only ever written in
// development mode; if it is lost, the passwords are reset and written again.
func Accounts(ctx context.Context, store *auth.Store, projectID int64, credentialsFile string) ([]Account, error) {
	kept := map[string]Account{}
	if b, err := os.ReadFile(credentialsFile); err == nil {
		var list []Account
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, fmt.Errorf("%s: %w", credentialsFile, err)
		}
		for _, a := range list {
			kept[a.Login] = a
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var out []Account
	changed := false
	for _, d := range demoAccounts {
		acct, known := kept[d.login]
		acct.Login, acct.Role = d.login, d.describe
		u, err := store.UserByLogin(ctx, d.login)
		switch {
		case errs.KindOf(err) == errs.NotFound:
			acct.Password = auth.RandomPassword()
			if u, err = store.CreateUser(ctx, auth.NewUser{Login: d.login, DisplayName: d.name, Password: acct.Password, IsAdmin: d.admin}); err != nil {
				return nil, err
			}
			changed = true
		case err != nil:
			return nil, err
		case !known:
			// An account by that name that the demo did not create (a shared database, say):
			// never take it over.
			return nil, fmt.Errorf("an account %q exists that development mode did not create (it is not in %s): "+
				"refusing to reset its password; point development mode at its own database", d.login, credentialsFile)
		case !signsIn(ctx, store, d.login, acct.Password):
			// Ours, but its password was changed since: set a new one we can print.
			acct.Password = auth.RandomPassword()
			if err := store.SetPassword(ctx, u.ID, acct.Password); err != nil {
				return nil, err
			}
			changed = true
		}
		if d.role != "" {
			if err := store.SetRole(ctx, projectID, u.ID, d.role); err != nil {
				return nil, err
			}
		}
		out = append(out, acct)
	}
	if changed {
		b, _ := json.MarshalIndent(out, "", "  ")
		if err := os.MkdirAll(filepath.Dir(credentialsFile), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(credentialsFile, b, 0o600); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func signsIn(ctx context.Context, store *auth.Store, login, password string) bool {
	_, err := store.Authenticate(ctx, login, password)
	return err == nil
}
