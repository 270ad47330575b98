package dittofs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
)

// plainHTTPAnswer is what net/http says (an untyped error) when the server
// dialled over TLS answers in plain HTTP.
const plainHTTPAnswer = "http: server gave HTTP response to HTTPS client"

// ErrClientCertificateRequired is the hook's own refusal to go on with a
// handshake in which the server asks for a client certificate and the
// hook has none to present. Failing there, before the request, is what
// makes the failure the same every time: under TLS 1.3 a server's refusal
// of a missing certificate arrives after the client's handshake, racing
// with the request (a broken pipe or a reset instead of the alert).
var ErrClientCertificateRequired = errors.New("the server requires a client certificate and the hook has none")

// TLSFailure is the kind of a failed TLS handshake with a DittoFS API. The
// hook turns it into a condition reason; its String is the stable,
// secret-free description Describe gives. The remote kinds come from the
// alert DittoFS sent, the local ones from the hook's own verification of the
// server's certificate.
type TLSFailure int

const (
	// NotTLSFailure: the error is not a failed TLS handshake.
	NotTLSFailure TLSFailure = iota
	// ServerCertUntrusted: the server's certificate does not chain to the
	// CA the hook trusts for it (the ca.crt of the DittoServer's
	// controlPlane.certSecretName, or the system roots without one).
	ServerCertUntrusted
	// ServerCertWrongName: the certificate chains to that CA but does not
	// name the API's host.
	ServerCertWrongName
	// ServerCertExpired: the certificate has expired or is not valid yet.
	ServerCertExpired
	// ServerCertInvalid: the certificate is unusable for another reason
	// (not for server authentication, a CA that may not sign it, ...).
	ServerCertInvalid
	// ClientCertRequired: the server requires a client certificate (mutual
	// TLS, controlPlane.clientCASecretName) and the hook presented none.
	ClientCertRequired
	// ClientCertRefused: the server refused the hook's client certificate:
	// its issuer is not in the server's client CA bundle, or it expired.
	ClientCertRefused
	// NotTLS: the server answered, but not in TLS (a plain HTTP server).
	NotTLS
	// HandshakeRefused: the server ended the handshake without saying why
	// in more detail: no common protocol version or cipher suite, or, over
	// TLS 1.2, a client certificate it requires and did not get.
	HandshakeRefused
	// HandshakeFailed: any other TLS failure.
	HandshakeFailed
)

var tlsFailureText = map[TLSFailure]string{
	ServerCertUntrusted: "server certificate not trusted (signed by an authority the hook does not trust for this server)",
	ServerCertWrongName: "server certificate does not name the API's host",
	ServerCertExpired:   "server certificate expired or not yet valid",
	ServerCertInvalid:   "server certificate invalid for a TLS server",
	ClientCertRequired:  "the server requires a client certificate and the hook presented none",
	ClientCertRefused:   "the server refused the hook's client certificate (its issuer is not in the server's client CA bundle, or it expired)",
	NotTLS:              "the server did not answer in TLS (is it serving plain HTTP?)",
	HandshakeRefused:    "the server refused the TLS handshake (no common TLS version or cipher, or a client certificate it requires)",
	HandshakeFailed:     "TLS handshake failed",
}

// String is the kind's stable description.
func (f TLSFailure) String() string { return tlsFailureText[f] }

// clientCertAlerts are the TLS alerts a server sends about the client's
// certificate (RFC 8446 §6.2): a server verifies no other certificate.
var clientCertAlerts = map[string]bool{
	"tls: bad certificate":                 true,
	"tls: unsupported certificate":         true,
	"tls: revoked certificate":             true,
	"tls: expired certificate":             true,
	"tls: unknown certificate":             true,
	"tls: unknown certificate authority":   true,
	"tls: access denied":                   true,
	"tls: bad certificate hash value":      true,
	"tls: bad certificate status response": true,
}

// TLSFailureOf classifies err, a failed call's error (any wrapping), by the
// kind of TLS failure it is, or NotTLSFailure.
func TLSFailureOf(err error) TLSFailure {
	if err == nil {
		return NotTLSFailure
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verification     *tls.CertificateVerificationError
		record           tls.RecordHeaderError
		op               *net.OpError
	)
	switch {
	case errors.As(err, &unknownAuthority):
		return ServerCertUntrusted
	case errors.As(err, &hostname):
		return ServerCertWrongName
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return ServerCertExpired
		}
		return ServerCertInvalid
	case errors.As(err, &verification):
		return ServerCertInvalid
	case errors.As(err, &record), strings.Contains(err.Error(), plainHTTPAnswer):
		return NotTLS
	case errors.Is(err, ErrClientCertificateRequired):
		return ClientCertRequired
	case errors.As(err, &op) && op.Op == "remote error" && op.Err != nil:
		// A TLS alert from the server: crypto/tls reports it as a
		// *net.OpError "remote error" wrapping the alert, whose text is
		// "tls: " and the alert's RFC name.
		switch alert := op.Err.Error(); {
		case alert == "tls: certificate required":
			return ClientCertRequired
		case clientCertAlerts[alert]:
			return ClientCertRefused
		case alert == "tls: handshake failure", alert == "tls: protocol version not supported", alert == "tls: insufficient security level":
			return HandshakeRefused
		}
		return HandshakeFailed
	}
	return NotTLSFailure
}

// describeTLS describes a TLS failure; ok is false when err is not one.
// Only the name the hook expected is repeated, never the server's words
// (the names its certificate carries are its owner's choice).
func describeTLS(err error) (string, bool) {
	f := TLSFailureOf(err)
	if f == NotTLSFailure {
		return "", false
	}
	var hostname x509.HostnameError
	if f == ServerCertWrongName && errors.As(err, &hostname) && hostname.Host != "" {
		return "server certificate is not valid for " + OneLine(hostname.Host, maxMessage), true
	}
	return f.String(), true
}
