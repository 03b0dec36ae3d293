package console

import (
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/security"
)

// fields collects the errors of a posted form, field by field.
type fields map[string]string

func (f fields) add(field, msg string) {
	if _, ok := f[field]; !ok {
		f[field] = msg
	}
}

func (f fields) ok() bool { return len(f) == 0 }

// text returns a trimmed form value.
func text(r *http.Request, name string) string { return strings.TrimSpace(r.PostFormValue(name)) }

// required checks a non-empty value of at most max characters.
func (f fields) required(field, v, label string, max int) {
	switch {
	case v == "":
		f.add(field, "Enter "+label+".")
	case len(v) > max:
		f.add(field, label+" is too long (at most "+itoa(max)+" characters).")
	}
}

var (
	tenantNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	envNameRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)
	localPartRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9._+-]{0,63}$`)
	domainRE     = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
)

// password checks a new password the way the directory does, and that the
// confirmation matches.
func (f fields) password(pw, confirm string) {
	switch {
	case len(pw) < 8:
		f.add("password", "Use at least 8 characters.")
	case len(pw) > 256:
		f.add("password", "Use at most 256 characters.")
	case pw != confirm:
		f.add("confirm", "The passwords do not match.")
	}
}

// guid checks a GUID field.
func (f fields) guid(field, v, label string) string {
	v = strings.ToLower(strings.Trim(strings.TrimSpace(v), "{}"))
	if v == "" {
		f.add(field, "Enter "+label+".")
	} else if !directory.IsGUID(v) {
		f.add(field, label+" must be a GUID such as 0b7e4f2a-6c1d-4a3e-8f95-1d2c3b4a5e60.")
	}
	return v
}

// problem turns an error of the directory or environment into a message
// for the form (argument errors say what is wrong); ok is false for other
// errors, which are not the user's to fix.
func problem(err error) (string, bool) {
	switch {
	case errors.Is(err, directory.ErrInvalid), errors.Is(err, environment.ErrInvalid), errors.Is(err, environment.ErrPrivilege):
		msg := err.Error()
		for _, p := range []string{"invalid argument: ", "invalid privilege: "} {
			if i := strings.Index(msg, p); i >= 0 {
				msg = msg[:i] + msg[i+len(p):]
			}
		}
		return upperFirst(msg) + ".", true
	case errors.Is(err, environment.ErrNoConsent):
		return "This application has no service principal in your tenant: grant admin consent first (Enterprise applications).", true
	}
	if m := err.Error(); strings.Contains(m, "already exists") {
		if i := strings.Index(m, ": store: conflict"); i >= 0 {
			m = m[:i]
		}
		if i := strings.Index(m, "store: conflict: "); i >= 0 {
			m = m[i+len("store: conflict: "):]
		}
		return upperFirst(m) + ".", true
	}
	return "", false
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// depthOption is one choice of a privilege depth select.
type depthOption struct {
	Value, Label string
	Selected     bool
}

// depthOptions lists the depths a privilege can have (None first), the
// current one selected.
func depthOptions(p privCell) []depthOption {
	out := []depthOption{{Value: "None", Label: "None", Selected: p.Depth == security.None}}
	for _, d := range []security.Depth{security.Basic, security.Local, security.Deep, security.Global} {
		if !p.allows(d) {
			continue
		}
		label := map[security.Depth]string{security.Basic: "User (Basic)", security.Local: "Business unit (Local)",
			security.Deep: "Parent: child BUs (Deep)", security.Global: "Organization (Global)"}[d]
		out = append(out, depthOption{Value: d.String(), Label: label, Selected: p.Depth == d})
	}
	return out
}
