package dittofs

import "context"

// AsAdmin calls fn with an administrator token, for the calls DittoFS
// refuses to the operator role (snapshot policies). It logs in anew each
// time and keeps no administrator token: the hook makes such calls only
// when the DittoServer's spec changed what DittoFS must hold, so a cached
// administrator session would only widen what a leak exposes. A failed
// login is an *AuthError of StageAdminLogin (ErrNoAdminCredentials without
// an administrator password).
func (a *Accounts) AsAdmin(ctx context.Context, t Target, fn func(token string) error) error {
	token, err := a.adminToken(ctx, t)
	if err != nil {
		return err
	}
	return fn(token)
}
