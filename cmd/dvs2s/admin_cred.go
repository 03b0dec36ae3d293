package main

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/pki"
	"github.com/dvs2s/dvs2s/store"
)

func init() {
	registerNoun(adminNoun{name: "secret", summary: "add client secrets to apps", verbs: []adminVerb{
		{name: "add", synopsis: "--app <client id> [--name <description>] [--years <n>] [--days <n>]",
			summary: "add a client secret and print it once (only its keyed hash is stored)", run: secretAdd},
	}})
	registerNoun(adminNoun{name: "cert", summary: "add certificate credentials to apps", verbs: []adminVerb{
		{name: "add", synopsis: "--app <client id> (--file <cert.pem> | --generate --out <prefix>) [--name <description>]",
			summary: "register an RSA certificate on an app, from a file or newly generated", run: certAdd},
	}})
}

// defaultSecretValidity is the Entra portal's recommended secret lifetime.
const defaultSecretValidity = 180 * 24 * time.Hour

// secretJSON is a client secret's metadata in --json output.
type secretJSON struct {
	ClientID    string    `json:"client_id"`
	KeyID       string    `json:"key_id"`
	DisplayName string    `json:"display_name"`
	Hint        string    `json:"hint"`
	StartsAt    time.Time `json:"starts_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

func toSecretJSON(p store.PasswordCredential) secretJSON {
	return secretJSON{ClientID: p.AppID, KeyID: p.KeyID, DisplayName: p.DisplayName, Hint: p.Hint, StartsAt: p.Start, ExpiresAt: p.End}
}

// secretAddJSON is secret add's --json output: the metadata and the secret.
type secretAddJSON struct {
	secretJSON
	Secret string `json:"secret"`
}

func secretAdd(c *adminCall, args []string) error {
	fs := c.flags()
	appFlag := fs.String("app", "", "the app's client id (required)")
	name := fs.String("name", "", "description of the secret")
	years := fs.Int("years", 0, "validity in years (added to --days; default 180 days in all)")
	days := fs.Int("days", 0, "validity in days (added to --years; default 180 days in all)")
	if _, err := c.parse(args, 0); err != nil {
		return err
	}
	if err := c.required("app"); err != nil {
		return err
	}
	id, err := c.appClientID(*appFlag, nil)
	if err != nil {
		return err
	}
	validity, err := c.validity(*years, *days, defaultSecretValidity)
	if err != nil {
		return err
	}
	d, closeDB, err := c.open(false, true)
	if err != nil {
		return err
	}
	defer closeDB()
	a, err := c.app(d, id)
	if err != nil {
		return err
	}
	p, text, err := d.AddSecret(c.ctx, a.AppID, *name, validity)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(secretAddJSON{toSecretJSON(p), text})
	}
	fmt.Fprintf(c.stdout, "Added a client secret to %q (client id %s)\n  key id:  %s\n", a.DisplayName, a.AppID, p.KeyID)
	if p.DisplayName != "" {
		fmt.Fprintf(c.stdout, "  name:    %s\n", p.DisplayName)
	}
	fmt.Fprintf(c.stdout, "  expires: %s\n\n  secret:  %s\n\n", adminTime(p.End), text)
	fmt.Fprintln(c.stdout, "Copy the secret now: it is shown only this once (only its keyed hash is stored).")
	return nil
}

// certJSON is a certificate credential in --json output.
type certJSON struct {
	ClientID    string    `json:"client_id"`
	KeyID       string    `json:"key_id"`
	DisplayName string    `json:"display_name"`
	Subject     string    `json:"subject"`
	Thumbprint  string    `json:"thumbprint"` // SHA-1, upper-case hex, as the Entra portal shows it
	X5t         string    `json:"x5t"`        // SHA-1, base64url, as in a client assertion's header
	X5tS256     string    `json:"x5t_s256"`   // SHA-256, base64url (x5t#S256)
	StartsAt    time.Time `json:"starts_at"`
	ExpiresAt   time.Time `json:"expires_at"`

	CertificateFile string `json:"certificate_file,omitempty"`
	PrivateKeyFile  string `json:"private_key_file,omitempty"`
}

func toCertJSON(k store.KeyCredential, cert *x509.Certificate) certJSON {
	j := certJSON{ClientID: k.AppID, KeyID: k.KeyID, DisplayName: k.DisplayName,
		Thumbprint: strings.ToUpper(hex.EncodeToString(k.SHA1)),
		X5t:        base64.RawURLEncoding.EncodeToString(k.SHA1),
		X5tS256:    base64.RawURLEncoding.EncodeToString(k.SHA256),
		StartsAt:   k.Start, ExpiresAt: k.End}
	if cert != nil {
		j.Subject = cert.Subject.String()
	}
	return j
}

func certAdd(c *adminCall, args []string) error {
	fs := c.flags()
	appFlag := fs.String("app", "", "the app's client id (required)")
	file := fs.String("file", "", "certificate to register: PEM (the first CERTIFICATE block) or DER; the public part only")
	generate := fs.Bool("generate", false, "generate a self-signed RSA-2048 certificate and private key")
	out := fs.String("out", "", "with --generate: write <prefix>.pem (certificate) and <prefix>.key (private key, mode 0600)")
	name := fs.String("name", "", "description of the credential (default: the certificate's common name)")
	subject := fs.String("subject", "", "with --generate: the certificate's common name (default: the app's display name)")
	years := fs.Int("years", 0, "with --generate: validity in years (added to --days; default 1 year)")
	days := fs.Int("days", 0, "with --generate: validity in days (added to --years)")
	if _, err := c.parse(args, 0); err != nil {
		return err
	}
	if err := c.required("app"); err != nil {
		return err
	}
	id, err := c.appClientID(*appFlag, nil)
	if err != nil {
		return err
	}
	switch {
	case *file == "" && !*generate:
		return c.usage("give --file <cert.pem> to register a certificate, or --generate --out <prefix> to make one")
	case *file != "" && *generate:
		return c.usage("give either --file or --generate, not both")
	case *generate && *out == "":
		return c.usage("--generate needs --out <prefix> to write the certificate and private key to")
	case !*generate && (*out != "" || *subject != "" || *years != 0 || *days != 0):
		return c.usage("--out, --subject, --years and --days go with --generate; a --file certificate carries its own")
	}
	validity, err := c.validity(*years, *days, 365*24*time.Hour)
	if err != nil {
		return err
	}

	var cert *x509.Certificate
	if *file != "" {
		data, err := os.ReadFile(*file)
		if err != nil {
			return fmt.Errorf("--file: %w", err)
		}
		if cert, err = c.readCert(*file, data); err != nil {
			return err
		}
	}
	d, closeDB, err := c.open(false, false)
	if err != nil {
		return err
	}
	defer closeDB()
	a, err := c.app(d, id)
	if err != nil {
		return err
	}
	var certFile, keyFile string
	if *generate {
		certFile, keyFile = *out+".pem", *out+".key"
		for _, f := range []string{certFile, keyFile} {
			if _, err := os.Stat(f); err == nil {
				return fmt.Errorf("%s already exists: choose another --out or remove it", f)
			}
		}
		cn := *subject
		if cn == "" {
			cn = a.DisplayName
		}
		cert, key, err := pki.SelfSigned(cn, validity)
		if err != nil {
			return err
		}
		if err := pki.WriteCertKey(certFile, keyFile, cert, key); err != nil {
			return err
		}
		k, err := d.AddCertificate(c.ctx, a.AppID, *name, cert)
		if err != nil {
			os.Remove(certFile)
			os.Remove(keyFile)
			return err
		}
		return c.printCert(a, toCertJSON(k, cert), certFile, keyFile)
	}
	ks, err := d.Store.Keys(c.ctx, a.AppID)
	if err != nil {
		return err
	}
	j := toCertJSON(store.KeyCredential{SHA1: sha1Of(cert)}, cert)
	for _, k := range ks {
		if bytes.Equal(k.SHA1, sha1Of(cert)) {
			return adminErr(store.ErrConflict, "certificate %s is already registered on %q (key id %s)", j.Thumbprint, a.DisplayName, k.KeyID)
		}
	}
	k, err := d.AddCertificate(c.ctx, a.AppID, *name, cert)
	if err != nil {
		return err
	}
	return c.printCert(a, toCertJSON(k, cert), "", "")
}

// readCert parses a certificate file: PEM (first CERTIFICATE block) or DER.
// It accepts only RSA certificates that have not expired.
func (c *adminCall) readCert(file string, data []byte) (*x509.Certificate, error) {
	var cert *x509.Certificate
	if bytes.Contains(data, []byte("-----BEGIN")) {
		certs, err := pki.ParseCertificates(data)
		switch {
		case err != nil && pemHasKey(data) && !bytes.Contains(data, []byte("CERTIFICATE-----")):
			return nil, c.usage("--file %s holds a private key but no certificate: give the certificate (the public part)", file)
		case err != nil && !bytes.Contains(data, []byte("CERTIFICATE-----")):
			return nil, c.usage("--file %s has no PEM CERTIFICATE block (-----BEGIN CERTIFICATE-----)", file)
		case err != nil:
			return nil, c.usage("--file %s: the certificate is not valid PEM/X.509: %v", file, strings.TrimPrefix(err.Error(), "pki: "))
		}
		cert = certs[0]
		if pemHasKey(data) {
			fmt.Fprintf(c.stderr, "note: %s also holds a private key; only the certificate was read (the key stays with the app)\n", file)
		}
	} else {
		var err error
		if cert, err = x509.ParseCertificate(data); err != nil {
			return nil, c.usage("--file %s is neither a PEM certificate nor a DER (.cer) certificate", file)
		}
	}
	if cert.PublicKeyAlgorithm != x509.RSA {
		return nil, c.usage("--file %s holds an %s certificate: Entra ID app credentials must be RSA (make one with --generate, or openssl req -x509 -newkey rsa:2048 ...)", file, cert.PublicKeyAlgorithm)
	}
	if time.Now().After(cert.NotAfter) {
		return nil, c.usage("--file %s: the certificate expired on %s", file, adminTime(cert.NotAfter))
	}
	return cert, nil
}

// pemHasKey reports whether a PEM document holds a private key block.
func pemHasKey(data []byte) bool {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			return true
		}
	}
}

func (c *adminCall) printCert(a store.App, j certJSON, certFile, keyFile string) error {
	j.CertificateFile, j.PrivateKeyFile = certFile, keyFile
	if c.json {
		return c.printJSON(j)
	}
	tw := newAdminTabWriter(c.stdout)
	fmt.Fprintf(tw, "Added a certificate to %q (client id %s)\n", a.DisplayName, a.AppID)
	fmt.Fprintf(tw, "  key id:\t%s\n  name:\t%s\n  subject:\t%s\n  thumbprint (SHA-1):\t%s\n  x5t:\t%s\n  x5t#S256:\t%s\n  valid:\t%s to %s\n",
		j.KeyID, j.DisplayName, j.Subject, j.Thumbprint, j.X5t, j.X5tS256, adminTime(j.StartsAt), adminTime(j.ExpiresAt))
	if certFile != "" {
		fmt.Fprintf(tw, "  certificate:\t%s\n  private key:\t%s (keep it secret)\n", certFile, keyFile)
	}
	return tw.Flush()
}

// sha1Of is a certificate's SHA-1 thumbprint.
func sha1Of(cert *x509.Certificate) []byte {
	s := sha1.Sum(cert.Raw)
	return s[:]
}
