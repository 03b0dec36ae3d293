// Package demo seeds the well-known demo directory: a publisher tenant
// (fabrikam) with a multi-tenant app, a customer tenant (contoso) that has
// consented to it, a single-tenant app in contoso, and contoso users.
//
// Like Azurite's development account, every id, secret and password here is
// public and fixed, so documentation and scripts can use them. The stack
// refuses them when it listens beyond loopback unless told otherwise.
package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/pki"
	"github.com/dvs2s/dvs2s/store"
)

// The well-known demo identifiers and credentials.
const (
	FabrikamTenantID = "8d3b1f0e-5c2a-4e7b-9a41-2f6c0d9e7a10"
	ContosoTenantID  = "5f1c2a9e-8b3d-4c6f-a017-3e9d4b2c6a21"

	PortalAppID     = "0b7e4f2a-6c1d-4a3e-8f95-1d2c3b4a5e60"
	PortalSecret    = "dvs2s~demo~Fabrikam.Portal~secret~do.not.use"
	PortalSecretKey = "1c0d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e"

	InventoryAppID     = "7a9c3e1b-2d4f-4b6a-9c8e-0f1e2d3c4b5a"
	InventorySecret    = "dvs2s~demo~Contoso.Inventory~secret~do.not.use"
	InventorySecretKey = "2d1e3f4a-5b6c-4d7e-9f80-a1b2c3d4e5f6"

	AdminID   = "a0d1e2f3-0000-4000-8000-00000000ad01"
	AliceID   = "a0d1e2f3-0000-4000-8000-0000000a11ce"
	BobID     = "a0d1e2f3-0000-4000-8000-000000000b0b"
	AdminUPN  = "admin@contoso.onmicrosoft.com"
	AliceUPN  = "alice@contoso.onmicrosoft.com"
	BobUPN    = "bob@contoso.onmicrosoft.com"
	AdminPass = "Contoso-Admin-Demo-1"
	AlicePass = "Alice-Demo-Passw0rd"
	BobPass   = "Bob-Demo-Passw0rd"

	// PortalRedirect is where the sample portal receives sign-in and admin
	// consent responses.
	PortalRedirect = "http://localhost:8080/auth/callback"
	PortalConsent  = "http://localhost:8080/onboarding/consent"

	// EnvironmentName is the demo Dataverse environment in contoso.
	EnvironmentName = "contoso"
)

// secretValidity of the demo secrets: long, they are well known anyway.
const secretValidity = 10 * 365 * 24 * time.Hour

// App is a seeded app and where its credentials are.
type App struct {
	Name         string
	ClientID     string
	HomeTenantID string
	MultiTenant  bool
	ClientSecret string
	CertFile     string // PEM certificate, "" if none
	KeyFile      string // PEM private key, "" if none
}

// User is a seeded user.
type User struct {
	UPN, Password, TenantID, ObjectID string
}

// Seed is what Ensure created or found.
type Seed struct {
	Apps  []App
	Users []User
	// PasswordKeyIDs and UserIDs identify the well-known credentials.
	PasswordKeyIDs []string
	UserIDs        []string
}

// Ensure creates whatever part of the demo is missing; it is idempotent.
// The portal's certificate is generated once into dir.
func Ensure(ctx context.Context, d *directory.Directory, dir string) (*Seed, error) {
	if err := ensureTenant(ctx, d, "fabrikam", FabrikamTenantID); err != nil {
		return nil, err
	}
	if err := ensureTenant(ctx, d, "contoso", ContosoTenantID); err != nil {
		return nil, err
	}
	if err := ensureApp(ctx, d, directory.AppSpec{Tenant: FabrikamTenantID, DisplayName: "Fabrikam Portal", MultiTenant: true,
		AppID: PortalAppID, RedirectURIs: []string{PortalRedirect, PortalConsent}}, PortalSecretKey, PortalSecret); err != nil {
		return nil, err
	}
	if err := ensureApp(ctx, d, directory.AppSpec{Tenant: ContosoTenantID, DisplayName: "Contoso Inventory Sync",
		AppID: InventoryAppID}, InventorySecretKey, InventorySecret); err != nil {
		return nil, err
	}
	if _, err := d.GrantAdminConsent(ctx, ContosoTenantID, PortalAppID); err != nil {
		return nil, fmt.Errorf("demo: consent: %w", err)
	}
	certFile, keyFile := filepath.Join(dir, "fabrikam-portal.pem"), filepath.Join(dir, "fabrikam-portal.key")
	if err := ensureCert(ctx, d, certFile, keyFile); err != nil {
		return nil, err
	}
	users := []User{
		{AdminUPN, AdminPass, ContosoTenantID, AdminID},
		{AliceUPN, AlicePass, ContosoTenantID, AliceID},
		{BobUPN, BobPass, ContosoTenantID, BobID},
	}
	names := map[string]string{AdminID: "Contoso Admin", AliceID: "Alice Anderson", BobID: "Bob Brown"}
	for _, u := range users {
		if _, err := d.Store.User(ctx, u.ObjectID); err == nil {
			continue
		}
		if _, err := d.CreateUser(ctx, u.TenantID, u.ObjectID, u.UPN, names[u.ObjectID], u.Password, u.ObjectID == AdminID); err != nil {
			return nil, fmt.Errorf("demo: user %s: %w", u.UPN, err)
		}
	}
	return &Seed{
		Apps: []App{
			{Name: "Fabrikam Portal", ClientID: PortalAppID, HomeTenantID: FabrikamTenantID, MultiTenant: true, ClientSecret: PortalSecret, CertFile: certFile, KeyFile: keyFile},
			{Name: "Contoso Inventory Sync", ClientID: InventoryAppID, HomeTenantID: ContosoTenantID, ClientSecret: InventorySecret},
		},
		Users:          users,
		PasswordKeyIDs: []string{PortalSecretKey, InventorySecretKey},
		UserIDs:        []string{AdminID, AliceID, BobID},
	}, nil
}

func ensureTenant(ctx context.Context, d *directory.Directory, name, id string) error {
	if _, err := d.Store.Tenant(ctx, id); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	_, err := d.CreateTenant(ctx, name, "", id)
	return err
}

func ensureApp(ctx context.Context, d *directory.Directory, spec directory.AppSpec, keyID, secretText string) error {
	if _, err := d.Store.App(ctx, spec.AppID); errors.Is(err, store.ErrNotFound) {
		if _, err := d.CreateApp(ctx, spec); err != nil {
			return fmt.Errorf("demo: app %s: %w", spec.DisplayName, err)
		}
	} else if err != nil {
		return err
	}
	pws, err := d.Store.Passwords(ctx, spec.AppID)
	if err != nil {
		return err
	}
	for _, p := range pws {
		if p.KeyID == keyID {
			return nil
		}
	}
	_, err = d.AddKnownSecret(ctx, spec.AppID, keyID, "demo secret (well known)", secretText, secretValidity)
	return err
}

// ensureCert registers the portal's certificate, generating it on first use
// (or when its files were removed).
func ensureCert(ctx context.Context, d *directory.Directory, certFile, keyFile string) error {
	if b, err := os.ReadFile(certFile); err == nil {
		if _, err := os.Stat(keyFile); err == nil {
			if certs, err := pki.ParseCertificates(b); err == nil {
				keys, err := d.Store.Keys(ctx, PortalAppID)
				if err != nil {
					return err
				}
				for _, k := range keys {
					if string(k.CertDER) == string(certs[0].Raw) {
						return nil
					}
				}
				_, err = d.AddCertificate(ctx, PortalAppID, "Fabrikam Portal demo certificate", certs[0])
				return err
			}
		}
	}
	cert, key, err := pki.SelfSigned("Fabrikam Portal (dvs2s demo)", 2*365*24*time.Hour)
	if err != nil {
		return err
	}
	if err := pki.WriteCertKey(certFile, keyFile, cert, key); err != nil {
		return err
	}
	_, err = d.AddCertificate(ctx, PortalAppID, "Fabrikam Portal demo certificate", cert)
	return err
}
