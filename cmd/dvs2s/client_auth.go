package main

// The client commands (whoami, get, query, create, update, delete, import)
// call a Dataverse environment's Web API — this stack's or Microsoft's —
// through the public SDK (package dataverse) with S2S tokens: client
// credentials with a secret or a certificate. They use nothing of the
// server side: what they read from <data>/stack.json is only defaults, so
// that `dvs2s whoami` just works against the local demo.
//
// Resolution of each setting: flag, then DVS2S_<FLAG>, then stack.json,
// then (tenant and authority) the environment's 401 challenge.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/dvs2s/dvs2s/dataverse"
)

// publicAuthority is Microsoft Entra ID's authority host (public cloud).
const publicAuthority = "https://login.microsoftonline.com"

// clientFlags are the connection and authentication flags of every client
// command.
type clientFlags struct {
	env, envURL, tenant, clientID, clientSecret string
	cert, key, certPassword                     string
	caFile, authorityHost                       string
	asUser, callerID                            string
	timeout                                     time.Duration
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.env, "env", "", "environment name in <data>/stack.json (default: the first one) — or give --env-url")
	fs.StringVar(&f.envURL, "env-url", "", "environment URL, e.g. https://org.crm.dynamics.com (default from <data>/stack.json)")
	fs.StringVar(&f.tenant, "tenant", "", "tenant id or domain to get tokens from (default: stack.json, else discovered from the environment's 401 challenge)")
	fs.StringVar(&f.clientID, "client-id", "", "the app's client id (default: the first app with a secret in stack.json)")
	fs.StringVar(&f.clientSecret, "client-secret", "", "client secret (or use --cert)")
	fs.StringVar(&f.cert, "cert", "", "PEM (or PKCS#12) file with the app's certificate, and its key unless --key is given")
	fs.StringVar(&f.key, "key", "", "PEM file with the certificate's private key")
	fs.StringVar(&f.certPassword, "cert-password", "", "password of an encrypted certificate file")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM file of an extra CA to trust (default: the stack's CA from stack.json)")
	fs.StringVar(&f.authorityHost, "authority-host", "", "identity provider host (default: stack.json, else the environment's challenge, else "+publicAuthority+")")
	fs.StringVar(&f.asUser, "as-user", "", "impersonate the user with this Microsoft Entra object id (CallerObjectId)")
	fs.StringVar(&f.callerID, "caller-id", "", "impersonate the user with this systemuserid (MSCRMCallerID)")
	fs.DurationVar(&f.timeout, "timeout", 0, "give up after this long (default: no limit)")
}

// stackJSON is the part of <data>/stack.json the client commands read.
type stackJSON struct {
	CAFile        string `json:"ca_file"`
	AuthorityHost string `json:"authority_host"`
	Apps          []struct {
		Name            string `json:"name"`
		ClientID        string `json:"client_id"`
		HomeTenantID    string `json:"home_tenant_id"`
		ClientSecret    string `json:"client_secret"`
		CertificateFile string `json:"certificate_file"`
		PrivateKeyFile  string `json:"private_key_file"`
	} `json:"apps"`
	Environments []struct {
		Name     string `json:"name"`
		URL      string `json:"url"`
		TenantID string `json:"tenant_id"`
	} `json:"environments"`
}

// clientConn is a resolved connection: the SDK client and what it uses.
type clientConn struct {
	client   *dataverse.Client
	envURL   string
	tenant   string
	clientID string
	authHost string
	reqOpts  []dataverse.RequestOption
}

// connect resolves the settings and builds the SDK client.
func (f *clientFlags) connect(ctx context.Context, c *adminCall, opts *dataverse.Options) (*clientConn, error) {
	var sj *stackJSON
	if b, err := os.ReadFile(filepath.Join(c.data, "stack.json")); err == nil {
		sj = &stackJSON{}
		if err := json.Unmarshal(b, sj); err != nil {
			return nil, fmt.Errorf("%s: %v", filepath.Join(c.data, "stack.json"), err)
		}
	}
	envURL, tenant, clientID, secret := f.envURL, f.tenant, f.clientID, f.clientSecret
	// The variables `dvs2s exec` (and scripts written for it) set.
	if envURL == "" {
		envURL = os.Getenv("DVS2S_ENVIRONMENT_URL")
	}
	if tenant == "" {
		tenant = os.Getenv("DVS2S_TENANT_ID")
	}
	cert, key, caFile, authHost := f.cert, f.key, f.caFile, strings.TrimRight(f.authorityHost, "/")
	if sj != nil {
		var pick int = -1
		for i, e := range sj.Environments {
			switch {
			case f.env != "":
				if strings.EqualFold(e.Name, f.env) {
					pick = i
				}
			case envURL != "":
				if sameURL(e.URL, envURL) {
					pick = i
				}
			default:
				if pick < 0 {
					pick = i
				}
			}
		}
		if f.env != "" && pick < 0 {
			return nil, c.usage("no environment %q in %s", f.env, filepath.Join(c.data, "stack.json"))
		}
		if caFile == "" {
			caFile = sj.CAFile
		}
		// The stack's defaults apply to the stack's own environments only:
		// its demo credentials are never sent anywhere else.
		if pick >= 0 {
			e := sj.Environments[pick]
			if envURL == "" {
				envURL = e.URL
			}
			if tenant == "" {
				tenant = e.TenantID
			}
			if authHost == "" {
				authHost = strings.TrimRight(sj.AuthorityHost, "/")
			}
			if clientID == "" && secret == "" && cert == "" {
				for _, a := range sj.Apps {
					if a.ClientSecret != "" {
						clientID, secret = a.ClientID, a.ClientSecret
						break
					}
				}
			} else if clientID != "" && secret == "" && cert == "" {
				for _, a := range sj.Apps {
					if strings.EqualFold(a.ClientID, clientID) {
						secret, cert, key = a.ClientSecret, a.CertificateFile, a.PrivateKeyFile
						if secret != "" {
							cert, key = "", ""
						}
					}
				}
			}
		}
	} else if f.env != "" {
		return nil, c.usage("--env needs %s (start the stack, or give --env-url)", filepath.Join(c.data, "stack.json"))
	}
	if envURL == "" {
		return nil, c.usage("--env-url is required (no %s to take it from)", filepath.Join(c.data, "stack.json"))
	}
	if clientID == "" {
		return nil, c.usage("--client-id is required")
	}
	if secret == "" && cert == "" {
		return nil, c.usage("--client-secret or --cert is required")
	}
	if f.asUser != "" && f.callerID != "" {
		return nil, c.usage("give --as-user or --caller-id, not both")
	}
	hc, err := httpClientTrusting(caFile)
	if err != nil {
		return nil, err
	}
	if tenant == "" || authHost == "" {
		// The real-Dataverse way: the environment names its tenant (and
		// authority) in the challenge of an unauthenticated request.
		ch, err := dataverse.DiscoverTenant(ctx, envURL, hc)
		if err != nil {
			if tenant == "" {
				return nil, fmt.Errorf("%v (give --tenant)", err)
			}
		} else {
			if tenant == "" {
				tenant = ch.TenantID
			}
			if authHost == "" {
				authHost = ch.AuthorityHost
			}
		}
	}
	if authHost == "" {
		authHost = publicAuthority
	}
	cloudCfg := cloud.Configuration{ActiveDirectoryAuthorityHost: authHost + "/"}
	co := azcore.ClientOptions{Cloud: cloudCfg, Transport: hc}
	// Instance discovery asks login.microsoftonline.com about the
	// authority: right for Microsoft's clouds, wrong for any other host.
	noDiscovery := !strings.EqualFold(authHost, publicAuthority)
	var cred azcore.TokenCredential
	if cert != "" {
		certs, pk, err := loadCert(cert, key, f.certPassword)
		if err != nil {
			return nil, err
		}
		cred, err = azidentity.NewClientCertificateCredential(tenant, clientID, certs, pk,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: noDiscovery})
		if err != nil {
			return nil, err
		}
	} else {
		cred, err = azidentity.NewClientSecretCredential(tenant, clientID, secret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: noDiscovery})
		if err != nil {
			return nil, err
		}
	}
	o := dataverse.Options{}
	if opts != nil {
		o = *opts
	}
	o.HTTPClient = hc
	cl, err := dataverse.NewClient(envURL, cred, &o)
	if err != nil {
		return nil, c.usage("%v", err)
	}
	conn := &clientConn{client: cl, envURL: cl.EnvironmentURL(), tenant: tenant, clientID: clientID, authHost: authHost}
	if f.asUser != "" {
		conn.reqOpts = append(conn.reqOpts, dataverse.WithCallerObjectID(f.asUser))
	}
	if f.callerID != "" {
		conn.reqOpts = append(conn.reqOpts, dataverse.WithCallerID(f.callerID))
	}
	return conn, nil
}

func sameURL(a, b string) bool {
	return strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(b, "/"))
}

// httpClientTrusting returns an HTTP client trusting the system roots
// plus caFile (if any).
func httpClientTrusting(caFile string) (*http.Client, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 128
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", caFile)
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return &http.Client{Transport: t}, nil
}

// loadCert reads a certificate and its key (PEM, or PKCS#12).
func loadCert(certFile, keyFile, password string) ([]*x509.Certificate, any, error) {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--cert: %w", err)
	}
	if keyFile != "" {
		k, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--key: %w", err)
		}
		b = append(append(b, '\n'), k...)
	}
	var pw []byte
	if password != "" {
		pw = []byte(password)
	}
	certs, key, err := azidentity.ParseCertificates(b, pw)
	if err != nil {
		return nil, nil, fmt.Errorf("--cert %s: %w", certFile, err)
	}
	return certs, key, nil
}

// newClientCall prepares a client command: --data and --json (shared with
// the administration commands) plus the connection flags.
func newClientCall(ctx context.Context, name, synopsis, summary string, stdout, stderr io.Writer, f *clientFlags) *adminCall {
	c := &adminCall{ctx: ctx, stdout: stdout, stderr: stderr, name: name, verb: adminVerb{name: name, synopsis: synopsis, summary: summary}}
	f.register(c.flags())
	return c
}

// clientHint adds what to do about common failures.
func clientHint(err error, conn *clientConn) error {
	if err == nil {
		return nil
	}
	var hint string
	switch {
	case dataverse.IsNotMemberOfOrganization(err):
		hint = "the environment has no application user for app " + conn.clientID + ": create one (dvs2s appuser create --env <name> --app " + conn.clientID + "; on Microsoft Dataverse: Power Platform admin center > Application users)"
	case dataverse.IsNoRoles(err):
		hint = "give the application user a security role (dvs2s role assign --env <name> --app " + conn.clientID + " --role <role>)"
	case dataverse.IsCannotImpersonate(err):
		hint = "the application user's role lacks prvActOnBehalfOfAnotherUser (Act on Behalf of Another User)"
	case dataverse.IsUnauthorized(err):
		if e := dataverse.AsError(err); e.Challenge != nil && e.Challenge.TenantID != "" && !strings.EqualFold(e.Challenge.TenantID, conn.tenant) {
			hint = "the environment belongs to tenant " + e.Challenge.TenantID + ", the token came from " + conn.tenant + ": use --tenant " + e.Challenge.TenantID
		}
	case dataverse.IsTokenError(err):
		if e := dataverse.AsError(err); e.Entra != nil {
			switch e.Entra.AADSTS() {
			case 7000215:
				hint = "check --client-secret: it must be the secret's value, not its id"
			case 700016:
				hint = "the app is not registered or consented in tenant " + conn.tenant + " (check --tenant, or grant admin consent)"
			case 500011:
				hint = "the environment is not a resource of tenant " + conn.tenant + " (check --tenant and --env-url)"
			case 90002:
				hint = "unknown tenant " + conn.tenant
			}
		}
	}
	if hint == "" {
		return err
	}
	return fmt.Errorf("%w\nhint: %s", err, hint)
}
