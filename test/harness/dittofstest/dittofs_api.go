package dittofstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// DittoFSAPI is an administrator's client of a DittoFS control-plane API
// that runs elsewhere (in a pod of the node tier).
type DittoFSAPI struct {
	// Base is http://host:port.
	Base     string
	Password string
	token    string
}

// Call sends a request with the administrator's token (logging in first,
// and again once when the token expired: it lives 15 minutes) and returns
// the status and body; a transport error is status 0.
func (a *DittoFSAPI) Call(method, path string, in any) (int, string) {
	for attempt := 0; ; attempt++ {
		if a.token == "" {
			tok, err := a.Login()
			if err != nil {
				return 0, err.Error()
			}
			a.token = tok
		}
		code, body := a.CallToken(a.token, method, path, in)
		if code != 401 || attempt > 0 {
			return code, body
		}
		a.token = ""
	}
}

// LogIn logs in as admin and keeps the token for the calls that follow:
// DittoFS checks a bcrypt hash per login, seconds on a busy node, which a
// measurement of a later call must not include.
func (a *DittoFSAPI) LogIn() error {
	tok, err := a.Login()
	if err != nil {
		return err
	}
	a.token = tok
	return nil
}

// Login logs in as admin and returns the access token.
func (a *DittoFSAPI) Login() (string, error) {
	code, body := a.CallToken("", "POST", "/api/v1/auth/login", map[string]string{"username": "admin", "password": a.Password})
	if code != 200 {
		return "", fmt.Errorf("login as admin: %d %s", code, body)
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		return "", fmt.Errorf("login as admin: %w", err)
	}
	return out.AccessToken, nil
}

// CallToken sends a request with the given token ("" for none).
func (a *DittoFSAPI) CallToken(token, method, path string, in any) (int, string) {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.Base+path, body)
	if err != nil {
		return 0, err.Error()
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Where a DittoServer's pod mounts its metadata and content volumes.
const (
	PodMetadataDir = "/data/store/metadata"
	PodContentDir  = "/data/store/block"
)

// CreateShare creates what a share needs in DittoFS v0.29.0 — a badger
// metadata store under metadataDir, a local fs block store under
// contentDir, a user with a POSIX identity (uid/gid 1000) who owns the
// share — and the share /export, read-write for that user. It returns the
// calls it made, for the test's transcript.
func (a *DittoFSAPI) CreateShare(metadataDir, contentDir, user, password string) ([]string, error) {
	var log []string
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/store/metadata", map[string]string{"name": "meta", "type": "badger", "config": `{"path":"` + metadataDir + `/meta"}`}},
		{"POST", "/api/v1/store/block/local", map[string]string{"name": "blocks", "type": "fs", "config": `{"path":"` + contentDir + `/blocks"}`}},
		{"POST", "/api/v1/users", map[string]any{"username": user, "password": password, "role": "user", "uid": 1000, "gid": 1000}},
		{"POST", "/api/v1/shares", map[string]any{"name": "/export", "metadata_store_id": "meta", "local_block_store": "blocks", "owner": user, "default_permission": "read-write"}},
		{"PUT", "/api/v1/shares/export/permissions/users/" + user, map[string]string{"level": "read-write"}},
	} {
		code, body := a.Call(c.method, c.path, c.body)
		log = append(log, fmt.Sprintf("%s %s → %d", c.method, c.path, code))
		if code/100 != 2 {
			return log, fmt.Errorf("%s %s: %d %s", c.method, c.path, code, body)
		}
	}
	return log, nil
}
